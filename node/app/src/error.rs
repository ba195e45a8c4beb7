//! The app layer's error: what a user action can fail with, in words for the user.

/// One problem with one field of the input (and the row, for uploaded files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub row: Option<usize>,
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            row: None,
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("sign in first (the session is missing or has ended)")]
    Unauthenticated,
    #[error("the username or password is wrong")]
    BadCredentials,
    #[error("too many failed sign-ins; try again in {retry_after_secs} seconds")]
    Throttled { retry_after_secs: u64 },
    #[error("change your temporary password before doing anything else")]
    MustChangePassword,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{message}")]
    Invalid {
        message: String,
        problems: Vec<Problem>,
    },
    /// The request clashes with the current state. `field` names the input it is about
    /// when there is one (a username already taken), so a form can show the message by it.
    #[error("{message}")]
    Conflict {
        message: String,
        field: Option<&'static str>,
    },
    #[error("{0}")]
    Unavailable(String),
    /// A fault of the node, not of the request: what the node was doing, and the error it
    /// met (none for a broken invariant). Both are for the log only.
    #[error("internal error")]
    Internal {
        context: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let problem = Problem::field(field, message);
        Self::Invalid {
            message: format!("{}: {}", problem.field, problem.message),
            problems: vec![problem],
        }
    }

    /// The request clashes with the current state (see [`AppError::Conflict`]).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
            field: None,
        }
    }

    /// The value typed in `field` clashes with what exists (a username already taken).
    pub fn conflict_in(field: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
            field: Some(field),
        }
    }

    /// A fault of the node while `context` (e.g. "hashing"), caused by `source`.
    pub fn internal(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Internal {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// A broken invariant of the node (no lower error to keep), e.g. "an entry went missing".
    pub fn bug(what: impl Into<String>) -> Self {
        Self::Internal {
            context: what.into(),
            source: None,
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    /// Stable, machine-readable code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::BadCredentials => "bad_credentials",
            Self::Throttled { .. } => "throttled",
            Self::MustChangePassword => "must_change_password",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Invalid { .. } => "validation",
            Self::Conflict { .. } => "conflict",
            Self::Unavailable(_) => "unavailable",
            Self::Internal { .. } => "internal",
        }
    }

    /// What to log: for internal errors what the node was doing and the error it met,
    /// otherwise the public message.
    pub fn log_cause(&self) -> String {
        match self {
            Self::Internal {
                context,
                source: None,
            } => context.clone(),
            Self::Internal {
                context,
                source: Some(source),
            } if context.is_empty() => source.to_string(),
            Self::Internal {
                context,
                source: Some(source),
            } => format!("{context}: {source}"),
            other => other.to_string(),
        }
    }
}

impl From<attach_store::StoreError> for AppError {
    fn from(e: attach_store::StoreError) -> Self {
        use attach_store::StoreError as S;
        match e {
            S::InvalidDocId { .. } => Self::invalid("id", e.to_string()),
            S::Corrupt { .. } => Self::Unavailable(format!(
                "{e}; the rest of the node keeps working. Restore it from a backup or a peer."
            )),
            // The store's own text says what failed; it is kept whole as the source.
            other => Self::internal("", other),
        }
    }
}

impl From<attach_store::ChangeError<AppError>> for AppError {
    fn from(e: attach_store::ChangeError<AppError>) -> Self {
        match e {
            attach_store::ChangeError::Rejected(inner) => inner,
            attach_store::ChangeError::Store(s) => s.into(),
        }
    }
}

impl From<attach_schema::SchemaError> for AppError {
    fn from(e: attach_schema::SchemaError) -> Self {
        Self::internal("document layout", e)
    }
}

impl From<attach_interop::ImportErrors> for AppError {
    fn from(e: attach_interop::ImportErrors) -> Self {
        use attach_interop::ImportErrors as I;
        match e {
            I::File(f) => Self::Invalid {
                message: format!("Nothing was imported. {f}"),
                problems: vec![Problem::field("file", f.to_string())],
            },
            I::Rows(rows) => Self::Invalid {
                message: format!(
                    "Nothing was imported: {} problem(s) to fix in the file.",
                    rows.len()
                ),
                problems: rows
                    .into_iter()
                    .map(|r| Problem {
                        row: Some(r.row),
                        field: r.field,
                        message: r.message,
                    })
                    .collect(),
            },
        }
    }
}

impl From<attach_domain::DomainError> for AppError {
    fn from(e: attach_domain::DomainError) -> Self {
        use attach_domain::DomainError as D;
        match e {
            D::Forbidden(m) => Self::Forbidden(m),
            D::NotFound(what) => Self::NotFound(what.to_owned()),
            D::InvalidTransition(m) | D::Conflict(m) => Self::conflict(m),
            D::Validation(fields) => {
                let problems: Vec<Problem> = fields
                    .into_iter()
                    .map(|f| Problem::field(f.field, f.message))
                    .collect();
                let message = problems
                    .iter()
                    .map(|p| format!("{}: {}", p.field, p.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                Self::Invalid { message, problems }
            }
        }
    }
}
