//! The error collector: every mistake in one derive is reported together,
//! not one per compile.

use std::cell::RefCell;
use std::fmt::Display;

use quote::ToTokens;

/// Collects errors while the input is read and checked.
///
/// Shared by `&` reference (errors are pushed through a `RefCell`) so that
/// attribute parsers can hold it next to their own state.
pub(crate) struct Ctxt {
    errors: RefCell<Vec<syn::Error>>,
}

impl Ctxt {
    pub(crate) fn new() -> Self {
        Ctxt {
            errors: RefCell::new(Vec::new()),
        }
    }

    /// Records an error spanning `tokens`: the user's tokens at fault.
    pub(crate) fn error_spanned_by(&self, tokens: impl ToTokens, message: impl Display) {
        // One non-generic call per error keeps monomorphization small.
        self.push(syn::Error::new_spanned(tokens.into_token_stream(), message));
    }

    /// Records an error produced by syn itself (a parse error).
    pub(crate) fn syn_error(&self, error: syn::Error) {
        self.push(error);
    }

    fn push(&self, error: syn::Error) {
        self.errors.borrow_mut().push(error);
    }

    /// All the errors recorded, combined into one, or `Ok` if there were none.
    pub(crate) fn check(self) -> syn::Result<()> {
        let mut errors = self.errors.into_inner().into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for error in errors {
            combined.combine(error);
        }
        Err(combined)
    }
}
