//! Use cases: one function per user action. Authorization is checked here, never in
//! handlers. Every function is blocking (it may touch the store); async callers run it
//! with `spawn_blocking` (see `App::run`).

mod accounts;
mod billing;
mod bulk_move;
mod clinical;
mod clock;
mod coding;
mod comparison;
pub mod config;
mod conflicts;
mod dashboard;
pub mod demo;
mod demo_clinical;
pub mod demo_data;
mod error;
mod followup;
mod history;
mod matching;
mod model;
mod msp;
mod ops;
mod panel;
mod profile;
mod projector;
mod protocol;
mod province;
mod qi;
mod registry;
mod review;
mod sync;
mod sync_access;
pub mod synthetic;
mod tasks;
mod transfer;

use std::path::Path;
use std::sync::Arc;

pub use accounts::{LoginResult, MembershipInfo, SessionInfo, SignedIn, Workspace};
pub use billing::{
    ATTACHMENT_COLUMNS, ATTACHMENT_FEE_CODE, AttachmentExport, AttachmentRecord, BillingScope,
    MissingNumber, parse_period,
};
pub use bulk_move::{MoveLine, UNDO_MOVE_REASON};
pub use clinical::{
    CareList, CareRow, ClinicalFile, ClinicalFormat, ClinicalImportReport, ClinicalList,
    ClinicalOverview, GapCount, PatientClinicalView, RegistryCount,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use coding::{
    CodingView, Definition, DefinitionOrigin, GapEdit, GapLine, MAX_DEFINITION_NAME,
    MAX_EVERY_MONTHS, MAX_REGISTRY_CODES, RegistryEdit, RegistryLine, is_shipped_definition,
};
pub use comparison::{
    AuthorityCell, ClinicCell, CommunityCell, Comparison, MeasureName, NO_AUTHORITY,
    comparison_measures, parse_month,
};
pub use conflicts::{ConflictKey, ConflictValueView, ConflictView};
pub use dashboard::{ClinicDashboard, MonthActivity, ProviderSize};
pub use demo::{DemoMember, DemoSetup};
pub use error::{AppError, Problem};
pub use followup::{AttachRecord, MAX_RECALL_SELECTION, RecallOutcome};
pub use history::ChangeKind;
pub use matching::{
    Acting, COORDINATOR, MatchingConfig, OfferView, Registered, RoundReport, WAITLIST_COLUMNS,
    WaitingInput, attachment_entry, parse_waitlist_csv,
};
pub use model::{
    ClinicState, ClinicalState, EntryState, Model, PatientClinical, Projection, ReadModel,
};
pub use msp::{MspDecided, MspDecision, MspView};
pub use ops::OpsCounts;
pub use panel::{
    EntryUpdate, ImportReport, PanelAccess, PanelPage, PanelQuery, PanelRow, PanelSort,
    PanelSummary, status_by_name, status_label, status_name,
};
pub use profile::{
    CENSUS, CENSUS_MONTHS, CensusMonth, ESTIMATE_COUNTS, PanelProfile, RatesView, Supply,
};
pub use protocol::{MAX_SECTION, PROTOCOL_SECTIONS, ProtocolSection, ProtocolText};
pub use province::{
    CoordinatorOffer, CoordinatorSummary, NewCoordinator, OffersOut, PersonView, WaitlistPage,
    WaitlistQuery, WaitlistRow,
};
pub use qi::{ChangeForm, CycleForm, CycleLine, CycleView, MeasureForm, MeasureView};
pub use registry::{
    DelegationAction, HistoryView, InitClinic, InitResult, MemberAction, MemberView,
};
pub use review::{BulkAction, BulkReport, MAX_BULK, MrpSide, ReviewPage, ReviewRow, ReviewScope};
pub use sync::DocSet;
pub use sync_access::hub_address;
pub use tasks::{NewTask, TaskView};
pub use transfer::{Destination, MoveReport, Selection};

use crate::config::Config;
use attach_auth::{SessionConfig, SessionStore, ThrottleStore};
use attach_store::{DocStore, StoreOptions};

/// The running node's state, shared by every request. Cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    store: DocStore,
    model: Arc<ReadModel>,
    sessions: SessionStore,
    throttle: ThrottleStore,
    clock: Arc<dyn Clock>,
    /// Held while a patient is checked against every panel and then added, so two adds of
    /// one patient on this node cannot both pass the check. (Adds on two nodes apart still
    /// can; that clash is resolved and reported after the merge.)
    admission: parking_lot::Mutex<()>,
    /// The hub's matching settings.
    matching: parking_lot::RwLock<matching::MatchingConfig>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("node", &self.inner.store.node_id())
            .finish_non_exhaustive()
    }
}

impl App {
    /// Opens (or creates) the data directory and builds the read model from the stored
    /// projections.
    pub fn open(config: &Config, clock: Arc<dyn Clock>) -> Result<Self, AppError> {
        Self::open_at(
            &config.data_dir,
            config.store_cache_mib,
            config.session_idle_minutes,
            clock,
        )
    }

    pub fn open_at(
        data_dir: &Path,
        cache_mib: u64,
        session_idle_minutes: u32,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AppError> {
        let options = StoreOptions {
            cache_capacity_bytes: cache_mib * 1024 * 1024,
            ..StoreOptions::default()
        };
        Self::open_with_options(data_dir, options, session_idle_minutes, clock)
    }

    /// [`App::open_at`] with every store option given (benchmarks that hold hundreds of
    /// stores in one process turn the store's background flusher off).
    pub fn open_with_options(
        data_dir: &Path,
        options: StoreOptions,
        session_idle_minutes: u32,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AppError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            AppError::Unavailable(format!(
                "cannot create the data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let model = Arc::new(ReadModel::default());
        let store = DocStore::open(
            &data_dir.join("docs"),
            options,
            Arc::new(projector::Projector::new(model.clone())),
        )?;
        let sessions = SessionStore::open(
            &store,
            SessionConfig {
                idle_timeout: time::Duration::minutes(i64::from(session_idle_minutes)),
                ..SessionConfig::default()
            },
            clock.now(),
        )
        .map_err(|e| AppError::internal("opening sessions", e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                model,
                sessions,
                throttle: ThrottleStore::default(),
                clock,
                admission: parking_lot::Mutex::new(()),
                matching: parking_lot::RwLock::new(matching::MatchingConfig::default()),
            }),
        })
    }

    fn now(&self) -> time::OffsetDateTime {
        self.inner.clock.now()
    }

    fn store(&self) -> &DocStore {
        &self.inner.store
    }

    fn model(&self) -> parking_lot::RwLockReadGuard<'_, Model> {
        self.inner.model.read()
    }

    /// Run a blocking app function off the async worker threads.
    pub async fn run<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&App) -> Result<T, AppError> + Send + 'static,
    {
        let app = self.clone();
        tokio::task::spawn_blocking(move || f(&app))
            .await
            .map_err(|e| AppError::internal("worker task failed", e))?
    }

    /// Bytes the data directory takes on disk.
    pub fn store_size(&self) -> Result<u64, AppError> {
        Ok(self.store().size_on_disk()?)
    }
}

impl App {
    /// Merges every document of `other` into this node, one document at a time, as a sync
    /// session would; returns how many documents were looked at. Used to bring a new
    /// replica up to date from a peer it can reach in-process (and by the merge tests).
    pub fn merge_all_from(&self, other: &App) -> Result<usize, AppError> {
        let ids = other.store().ids_with_prefix("")?;
        for id in &ids {
            if let Some(Err(e)) = other
                .store()
                .read(id, |doc| self.store().merge_from(id, doc))?
            {
                return Err(e.into());
            }
        }
        Ok(ids.len())
    }
}

#[cfg(test)]
mod tests;
