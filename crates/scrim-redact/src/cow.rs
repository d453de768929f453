//! Building output that borrows its input for as long as it equals it, so that the
//! common case (nothing to redact) allocates nothing.

use std::borrow::Cow;

/// Output under construction. While no byte differs from the source, it is just a range
/// of the source; the first difference copies that range into a `String`.
///
/// Kept source text is not copied at once: consecutive ranges that touch in the source
/// (a token, the single space after it, the next token) accumulate in `run`, and are
/// copied in one piece when something else is appended, which keeps the copying cost
/// per output run rather than per token.
pub(crate) struct CowBuilder<'a> {
    src: &'a str,
    /// Source text appended after `owned`, not yet copied: `src[start..end]`. While
    /// `owned` is `None`, it is the whole output.
    start: usize,
    end: usize,
    owned: Option<String>,
}

impl<'a> CowBuilder<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        CowBuilder {
            src,
            start: 0,
            end: 0,
            owned: None,
        }
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end && self.owned.as_ref().is_none_or(String::is_empty)
    }

    /// Appends the source range `s..e`. Leading source text that is skipped (such as
    /// whitespace before the first token) costs nothing.
    #[inline]
    pub(crate) fn keep(&mut self, s: usize, e: usize) {
        if s == self.end && self.start != self.end {
            self.end = e;
        } else {
            self.keep_apart(s, e);
        }
    }

    /// [`keep`](Self::keep) of a range that does not continue the pending one.
    fn keep_apart(&mut self, s: usize, e: usize) {
        if self.start != self.end {
            self.materialize();
        }
        self.start = s;
        self.end = e;
    }

    /// Appends `piece`, which differs from the source.
    pub(crate) fn push_new(&mut self, piece: &str) {
        self.materialize().push_str(piece);
    }

    /// Appends `piece`, staying borrowed if the source continues with exactly `piece`.
    pub(crate) fn push(&mut self, piece: &str) {
        if self.owned.is_none() && self.src[self.end..].starts_with(piece) {
            let end = self.end;
            self.keep(end, end + piece.len());
        } else {
            self.push_new(piece);
        }
    }

    /// Moves the pending source range into the owned output, creating it if needed.
    fn materialize(&mut self) -> &mut String {
        let (src, start, end) = (self.src, self.start, self.end);
        self.start = end;
        let b = self
            .owned
            .get_or_insert_with(|| String::with_capacity(src.len()));
        b.push_str(&src[start..end]);
        b
    }

    pub(crate) fn finish(self) -> Cow<'a, str> {
        match self.owned {
            Some(mut b) => {
                b.push_str(&self.src[self.start..self.end]);
                Cow::Owned(b)
            }
            None => Cow::Borrowed(&self.src[self.start..self.end]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_borrowed_while_equal() {
        let mut b = CowBuilder::new("  abc def");
        b.keep(2, 5);
        b.push(" ");
        b.keep(6, 9);
        assert!(matches!(b.finish(), Cow::Borrowed("abc def")));
    }

    #[test]
    fn copies_on_first_difference() {
        let mut b = CowBuilder::new("abc def");
        b.keep(0, 3);
        b.push(" ?");
        assert_eq!(b.finish(), Cow::<str>::Owned("abc ?".into()));
        let mut b = CowBuilder::new("abc def");
        b.keep(0, 3);
        b.keep(4, 7);
        assert_eq!(b.finish(), "abcdef");
    }
}
