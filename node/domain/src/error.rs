//! Why a registry rule refused an action. Messages are for the person who tried it.

/// One problem with one field of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The actor may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The thing acted on does not exist (in this clinic).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The action does not fit the current state (e.g. approving an active member).
    #[error("{0}")]
    InvalidTransition(String),
    /// The action would break a rule of the registry (e.g. leave the clinic without a
    /// primary account manager, or put a patient on two panels).
    #[error("{0}")]
    Conflict(String),
    /// Input is wrong; every problem is listed.
    #[error("{}", describe(.0))]
    Validation(Vec<FieldError>),
}

fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::InvalidTransition(_) => "invalid_transition",
            Self::Conflict(_) => "conflict",
            Self::Validation(_) => "validation",
        }
    }
}

/// Collects field errors and turns them into one `Validation` error (or `Ok`).
#[derive(Debug, Default)]
pub struct Problems(pub Vec<FieldError>);

impl Problems {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn finish<T>(self, value: T) -> Result<T, DomainError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(DomainError::Validation(self.0))
        }
    }
}
