//! Building output that borrows its input for as long as it equals it, so that the
//! common case (nothing to redact) allocates nothing.

use std::borrow::Cow;

/// Output under construction. While no byte differs from the source, it is just a range
/// of the source; the first difference copies that range into a `String`.
pub(crate) struct CowBuilder<'a> {
    src: &'a str,
    /// While `owned` is `None`, the output is exactly `src[start..end]`.
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

    pub(crate) fn is_empty(&self) -> bool {
        match &self.owned {
            Some(b) => b.is_empty(),
            None => self.start == self.end,
        }
    }

    /// Appends the source range `s..e`. Leading source text that is skipped (such as
    /// whitespace before the first token) costs nothing.
    pub(crate) fn keep(&mut self, s: usize, e: usize) {
        match &mut self.owned {
            Some(b) => b.push_str(&self.src[s..e]),
            None if self.start == self.end => {
                self.start = s;
                self.end = e;
            }
            None if s == self.end => self.end = e,
            None => {
                let src = self.src;
                self.materialize().push_str(&src[s..e]);
            }
        }
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

    fn materialize(&mut self) -> &mut String {
        let (src, start, end) = (self.src, self.start, self.end);
        self.owned.get_or_insert_with(|| {
            let mut b = String::with_capacity(src.len());
            b.push_str(&src[start..end]);
            b
        })
    }

    pub(crate) fn finish(self) -> Cow<'a, str> {
        match self.owned {
            Some(b) => Cow::Owned(b),
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
