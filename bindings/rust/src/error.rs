//! [`Error`], [`ErrorKind`] and [`Result`].
use std::ffi::CStr;
use std::fmt;

use crate::sys;

/// What went wrong, from the C status code (`USMOE_STATUS_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `USMOE_STATUS_INVALID_ARGUMENT`: an argument is out of range or
    /// inconsistent with another (also used for length checks made on the
    /// Rust side).
    InvalidArgument,
    /// `USMOE_STATUS_NON_FINITE_INPUT`: NaN or ±Inf in an input or in the
    /// computed logits; the message names the first token and feature/expert.
    NonFiniteInput,
    /// `USMOE_STATUS_BUFFER_TOO_SMALL`: an output buffer is too short.
    BufferTooSmall,
    /// `USMOE_STATUS_OUT_OF_MEMORY`: an allocation failed or a size overflows.
    OutOfMemory,
    /// `USMOE_STATUS_UNSUPPORTED`: a valid request this build or CPU cannot serve.
    Unsupported,
    /// `USMOE_STATUS_INTERNAL_ERROR`: a bug in usmoe; please report it.
    Internal,
    /// A status this version of the crate does not know (a newer library).
    Unknown,
}

impl ErrorKind {
    /// The kind of a C status code (`Unknown` for unlisted values).
    pub fn from_status(status: i32) -> ErrorKind {
        match status {
            sys::USMOE_STATUS_INVALID_ARGUMENT => ErrorKind::InvalidArgument,
            sys::USMOE_STATUS_NON_FINITE_INPUT => ErrorKind::NonFiniteInput,
            sys::USMOE_STATUS_BUFFER_TOO_SMALL => ErrorKind::BufferTooSmall,
            sys::USMOE_STATUS_OUT_OF_MEMORY => ErrorKind::OutOfMemory,
            sys::USMOE_STATUS_UNSUPPORTED => ErrorKind::Unsupported,
            sys::USMOE_STATUS_INTERNAL_ERROR => ErrorKind::Internal,
            _ => ErrorKind::Unknown,
        }
    }
}

/// An error of the usmoe library: the C status code, its kind, and the
/// message of `usmoe_last_error()` (which names the argument at fault).
///
/// Errors found by the Rust side before calling C (a slice whose length does
/// not match the sizes, a dtype that does not match the element type) have
/// status `USMOE_STATUS_INVALID_ARGUMENT` and a message starting with
/// `"usmoe (rust): "`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// The `usmoe_status` value returned by the C call (never 0).
    pub status: i32,
    /// The status as an enum.
    pub kind: ErrorKind,
    /// The library's message, e.g. `"usmoe_router_create: config->k = 1.5 ..."`.
    pub message: String,
}

/// `std::result::Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Builds the error of a failed C call from `usmoe_last_error()`; must be
    /// called on the thread of that call, before any other `usmoe_` call.
    pub(crate) fn from_last(status: i32) -> Error {
        // SAFETY: usmoe_last_error never returns NULL; the string is valid
        // until the next usmoe_ call on this thread, and is copied here.
        let message = unsafe {
            let p = sys::usmoe_last_error();
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        Error {
            status,
            kind: ErrorKind::from_status(status),
            message,
        }
    }

    /// An argument error found on the Rust side.
    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error {
            status: sys::USMOE_STATUS_INVALID_ARGUMENT,
            kind: ErrorKind::InvalidArgument,
            message: format!("usmoe (rust): {}", message.into()),
        }
    }

    /// The status code (`USMOE_STATUS_*`).
    pub fn status(&self) -> i32 {
        self.status
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The library's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The library's name of a status code (`"invalid argument"`, ...;
/// `"unknown status"` for an unlisted value).
pub fn status_string(status: i32) -> &'static str {
    // SAFETY: usmoe_status_string returns a static string, never NULL.
    unsafe {
        let p = sys::usmoe_status_string(status);
        if p.is_null() {
            return "unknown status";
        }
        CStr::from_ptr(p).to_str().unwrap_or("unknown status")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = status_string(self.status);
        if self.message.is_empty() {
            write!(f, "usmoe: {name} (status {})", self.status)
        } else {
            write!(f, "usmoe: {name}: {}", self.message)
        }
    }
}

impl std::error::Error for Error {}

/// Maps a C status to `Ok(())` or the error of `usmoe_last_error()`.
#[inline]
pub(crate) fn check(status: i32) -> Result<()> {
    if status == sys::USMOE_STATUS_SUCCESS {
        Ok(())
    } else {
        Err(Error::from_last(status))
    }
}
