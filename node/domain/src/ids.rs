//! Newtype identifiers. Every id is a UUID (v7, so ids sort by creation time).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    };
}

uuid_id!(
    /// A clinic (one `clinic/<id>` document).
    ClinicId
);
uuid_id!(
    /// A person with one login. Providers are users too: a panel is keyed by its provider's user id.
    UserId
);
uuid_id!(
    /// One patient's entry on one provider's panel.
    EntryId
);
uuid_id!(
    /// An endorsement of a staff member by a provider.
    DelegationId
);
uuid_id!(
    /// A clinic-defined patient status.
    StatusId
);
uuid_id!(
    /// A clinic location (site).
    LocationId
);
uuid_id!(
    /// A person on the provincial waitlist (one `waiting/<id>` document at the hub).
    PersonId
);
uuid_id!(
    /// An offer of a waiting person (or household) to a provider.
    OfferId
);
uuid_id!(
    /// A recurring panel-review task of a clinic (one `clinic/<c>/review/<task>` document).
    TaskId
);
uuid_id!(
    /// One completion of a review task (one `clinic/<c>/review/<task>/<done>` document).
    CompletionId
);
uuid_id!(
    /// A bulk change of many panel entries (one `clinic/<c>/bulk/<bulk>` document).
    BulkId
);
uuid_id!(
    /// A quality-improvement cycle of a clinic (one `clinical/<c>/qi/<cycle>` document).
    CycleId
);
