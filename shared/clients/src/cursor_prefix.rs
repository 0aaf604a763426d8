//! A Kombo page's cursor, read from the first bytes of its answer.
//!
//! Kombo's pages are `{"status": …, "data": {"next": <cursor or null>, "results": [ … ]}}`, and
//! the spec and its examples give `next` before `results`: the next page's cursor is in the
//! answer's first few hundred bytes, while the rest (250 employees, some 400 KB) is still on the
//! wire. The listing asks for the next page as soon as the cursor is there instead of once the
//! whole answer is in. What this reads is only a guess until the whole page is decoded: the
//! listing keeps the page asked for early only when the page's own cursor is the same string.
//!
//! The reader accepts just the plain shape: any keys of scalar values before `data`, then `next`
//! first in `data`, as a string without escapes or `null`. Anything else (`results` first, an
//! escape, a nested value before `data`, more than [`PREFIX_LIMIT`] bytes) is [`Prefix::Unknown`],
//! and the listing waits for the whole page as it would have.

/// How far into an answer the cursor is looked for.
pub const PREFIX_LIMIT: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prefix {
    /// `data.next` is this cursor.
    Cursor(String),
    /// `data.next` is null (or empty): the last page.
    Last,
    /// Not there yet: read on.
    NeedMore,
    /// Not the plain shape: wait for the whole page.
    Unknown,
}

/// What the first bytes of a page say of its cursor.
pub fn cursor_in(prefix: &[u8]) -> Prefix {
    let mut reader = Reader {
        bytes: prefix,
        at: 0,
    };
    match reader.page() {
        Ok(found) => found,
        Err(Stop::NeedMore) if prefix.len() < PREFIX_LIMIT => Prefix::NeedMore,
        Err(_) => Prefix::Unknown,
    }
}

enum Stop {
    NeedMore,
    Unknown,
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn page(&mut self) -> Result<Prefix, Stop> {
        self.expect(b'{')?;
        loop {
            let key = self.key()?;
            if key == "data" {
                return self.data();
            }
            self.scalar()?;
            self.expect(b',')?;
        }
    }

    /// `data`'s first key must be `next`.
    fn data(&mut self) -> Result<Prefix, Stop> {
        self.expect(b'{')?;
        if self.key()? != "next" {
            return Err(Stop::Unknown);
        }
        let cursor = match self.peek()? {
            b'"' => self.string()?,
            b'n' => {
                self.literal(b"null")?;
                String::new()
            }
            _ => return Err(Stop::Unknown),
        };
        // The value must be complete: a comma or the end of `data` after it.
        match self.peek()? {
            b',' | b'}' => {}
            _ => return Err(Stop::Unknown),
        }
        Ok(if cursor.is_empty() {
            Prefix::Last
        } else {
            Prefix::Cursor(cursor)
        })
    }

    /// `"key":`
    fn key(&mut self) -> Result<String, Stop> {
        if self.peek()? != b'"' {
            return Err(Stop::Unknown);
        }
        let key = self.string()?;
        self.expect(b':')?;
        Ok(key)
    }

    /// A string without escapes, or a number, `true`, `false` or `null`.
    fn scalar(&mut self) -> Result<(), Stop> {
        if self.peek()? == b'"' {
            return self.string().map(drop);
        }
        let start = self.at;
        while let Some(&b) = self.bytes.get(self.at) {
            if !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')) {
                break;
            }
            self.at += 1;
        }
        if self.at == self.bytes.len() {
            return Err(Stop::NeedMore);
        }
        if self.at == start {
            return Err(Stop::Unknown);
        }
        Ok(())
    }

    fn string(&mut self) -> Result<String, Stop> {
        self.expect(b'"')?;
        let start = self.at;
        loop {
            match self.bytes.get(self.at) {
                None => return Err(Stop::NeedMore),
                Some(b'"') => break,
                Some(b'\\') => return Err(Stop::Unknown),
                Some(b) if *b < 0x20 => return Err(Stop::Unknown),
                Some(_) => self.at += 1,
            }
        }
        let text = std::str::from_utf8(&self.bytes[start..self.at]).map_err(|_| Stop::Unknown)?;
        self.at += 1;
        Ok(text.to_string())
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Stop> {
        for &expected in word {
            match self.bytes.get(self.at) {
                None => return Err(Stop::NeedMore),
                Some(&b) if b == expected => self.at += 1,
                Some(_) => return Err(Stop::Unknown),
            }
        }
        Ok(())
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Result<u8, Stop> {
        while let Some(&b) = self.bytes.get(self.at) {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Ok(b);
            }
            self.at += 1;
        }
        Err(Stop::NeedMore)
    }

    fn expect(&mut self, byte: u8) -> Result<(), Stop> {
        if self.peek()? != byte {
            return Err(Stop::Unknown);
        }
        self.at += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_the_cursor_in_kombos_shape_and_in_sorted_keys() {
        let kombo = br#"{"status":"success","data":{"next":"eyJwYWdlIjoxMn0=","results":[{"id":"#;
        assert_eq!(cursor_in(kombo), Prefix::Cursor("eyJwYWdlIjoxMn0=".into()));
        let sorted = br#"{"data":{"next":"c2","results":["#;
        assert_eq!(cursor_in(sorted), Prefix::Cursor("c2".into()));
        let spaced =
            b"{ \"status\" : \"success\" ,\n \"data\" : { \"next\" : null , \"results\" : [";
        assert_eq!(cursor_in(spaced), Prefix::Last);
        assert_eq!(
            cursor_in(br#"{"data":{"next":"","results":["#),
            Prefix::Last
        );
        assert_eq!(cursor_in(br#"{"data":{"next":"ab"#), Prefix::NeedMore);
        assert_eq!(cursor_in(br#"{"data":{"next":"ab""#), Prefix::NeedMore);
    }

    #[test]
    fn anything_but_the_plain_shape_is_unknown() {
        for body in [
            &br#"{"data":{"results":[],"next":"a"}}"#[..],
            br#"{"data":{"next":"a\"b","results":[]}}"#,
            br#"{"meta":{"x":1},"data":{"next":"a","results":[]}}"#,
            br#"{"data":{"next":12,"results":[]}}"#,
            br#"{"data":{"next":"a"]"#,
            br#"["data"]"#,
            b"<html>",
        ] {
            assert_eq!(
                cursor_in(body),
                Prefix::Unknown,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let long = format!(r#"{{"status":"{}""#, "s".repeat(PREFIX_LIMIT));
        assert_eq!(cursor_in(long.as_bytes()), Prefix::Unknown);
    }

    fn page(next: Option<&str>, status_first: bool) -> String {
        let next = serde_json::to_string(&next).unwrap();
        let data = format!(r#"{{"next":{next},"results":[{{"id":"e1"}}]}}"#);
        if status_first {
            format!(r#"{{"status":"success","data":{data}}}"#)
        } else {
            format!(r#"{{"data":{data},"status":"success"}}"#)
        }
    }

    proptest! {
        /// Whatever prefix of a page is in, the reader never names another cursor than the
        /// page's own: it names that one, or asks for more, or gives up.
        #[test]
        fn a_prefix_never_names_a_cursor_the_page_does_not_have(
            next in proptest::option::of("[ -~]{0,40}"),
            status_first in any::<bool>(),
        ) {
            let body = page(next.as_deref(), status_first);
            for end in 0..=body.len() {
                match cursor_in(&body.as_bytes()[..end]) {
                    Prefix::Cursor(c) => prop_assert_eq!(Some(c.as_str()), next.as_deref()),
                    Prefix::Last => prop_assert!(next.as_deref().is_none_or(str::is_empty)),
                    Prefix::NeedMore | Prefix::Unknown => {}
                }
            }
        }

        #[test]
        fn any_bytes_are_read_without_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = cursor_in(&body);
        }
    }
}
