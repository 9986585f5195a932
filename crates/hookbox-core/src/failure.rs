//! What kind of failure an error is, said by the error itself. Every error
//! type hookbox defines implements [`Categorized`] (a test holds that), and a
//! command's exit code follows from the first categorized error in its chain
//! (see `exit_code`), so a new error cannot end a command as "internal" by
//! being forgotten.

/// The kinds of failure a command can end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Bad input, settings or usage: the user can fix it.
    Usage,
    /// Something the command needs is unavailable: the hook source (no
    /// snapshot and no fetch), or the event service the drop-in hands to.
    Unavailable,
    /// hookbox itself failed.
    Internal,
}

/// An error that says what kind of failure it is.
pub trait Categorized: std::error::Error + Send + Sync + 'static {
    /// Its kind.
    fn failure(&self) -> Failure;
}

/// Implements [`Categorized`] for error types that are one kind of failure
/// whatever their variant.
#[doc(hidden)]
#[macro_export]
macro_rules! __categorized {
    ($failure:ident: $($error:ty),+ $(,)?) => {
        $(impl $crate::failure::Categorized for $error {
            fn failure(&self) -> $crate::failure::Failure {
                $crate::failure::Failure::$failure
            }
        })+
    };
}
/// Implements [`Categorized`] for error types that are one kind of failure
/// whatever their variant: `categorized!(Usage: ParseError, OtherError);`.
pub use crate::__categorized as categorized;
