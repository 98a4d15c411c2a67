//! What can go wrong talking to an Azure service, said so that the log line names the service
//! and the cause.

/// A failure talking to an Azure service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AzureError {
    /// The service answered with an error status (after retries where they apply).
    #[error("{service} answered {status} {code}: {message}")]
    Status {
        /// Which service.
        service: &'static str,
        /// HTTP status.
        status: u16,
        /// The service's error code (`error.code`), or the status text.
        code: String,
        /// The service's error message (`error.message`).
        message: String,
    },
    /// No answer: connection refused or reset, timeout, TLS failure.
    #[error("{service} could not be reached: {message}")]
    Transport {
        /// Which service.
        service: &'static str,
        /// What went wrong.
        message: String,
    },
    /// No access token could be obtained.
    #[error("could not get an access token for {service}: {message}")]
    Credential {
        /// Which service the token was for.
        service: &'static str,
        /// What the credential said.
        message: String,
    },
    /// The answer did not have the documented shape.
    #[error("{service} sent an answer this tool cannot read: {message}")]
    Decode {
        /// Which service.
        service: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

impl AzureError {
    /// A query answer cut by Log Analytics' result limits (500,000 records or 64 MB), reported
    /// as a `PartialError` whose inner message names `E_QUERY_RESULT_SET_TOO_LARGE`.
    pub fn is_result_too_large(&self) -> bool {
        matches!(self, Self::Status { message, .. } if message.contains("E_QUERY_RESULT_SET_TOO_LARGE"))
    }

    /// The HTTP status, when the service answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The error and its causes on one line.
pub(super) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}
