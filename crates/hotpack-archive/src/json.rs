//! A strict, allocation-light JSON reader for the manifest: RFC 8259 syntax over a document
//! already checked to be UTF-8, strings borrowed unless they hold escapes, integers only
//! where the manifest has integers, and every object walked key by key so the caller
//! refuses a key seen twice (serde's derive does so for structs, never for maps).
//!
//! It replaces a serde derive whose cost, for a 10,000-entry manifest, was most of
//! `Bundle::open`: one `String` per key and value, an intermediate `Vec`, and a map that
//! let the last of two equal keys win (`docs/FORMAT.md`: a key twice is refused).

use crate::fault::{JsonError, JsonErrorKind as K, ManifestRule};
use std::borrow::Cow;

/// Deepest nesting [`Reader::skip_value`] follows (serde_json's default recursion limit).
const MAX_DEPTH: usize = 128;

/// Why a document was refused: a syntax or type error (with the byte offset), a key that
/// appears twice in one object, or a value the caller refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadError {
    Syntax(JsonError),
    Duplicate {
        key: String,
        object: String,
    },
    /// Well-formed, but a value breaks a rule of the caller (bad hex, ...).
    Invalid(ManifestRule),
}

pub(crate) type Result<T> = std::result::Result<T, ReadError>;

/// The first index at or after `from` holding a quote, a backslash or a control character
/// (or `b.len()`): eight bytes at a time, since manifest strings are long runs of plain
/// characters (paths and 64-digit hashes).
fn plain_run(b: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
        // Bytes equal to `"` or `\`, or below 0x20 (high bit clear and under 0x20).
        let hit = zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGHS);
        if hit != 0 {
            return i + (hit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i
}

/// A cursor over one JSON document.
pub(crate) struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`, which must be UTF-8 (checked once here, so every string
    /// slice taken later is valid).
    pub(crate) fn new(bytes: &'a [u8]) -> Result<Self> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| ReadError::Syntax(JsonError { offset: e.valid_up_to(), kind: K::NotUtf8 }))?;
        Ok(Reader { text, pos: 0 })
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    pub(crate) fn error(&self, kind: K) -> ReadError {
        ReadError::Syntax(JsonError { offset: self.pos, kind })
    }

    fn ws(&mut self) {
        let b = self.bytes();
        while let Some(&c) = b.get(self.pos) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.bytes().get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> Result<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(K::Expected { character: c as char }))
        }
    }

    /// Only whitespace may follow the document.
    pub(crate) fn end(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error(K::TrailingCharacters)),
        }
    }

    /// A string, borrowed from the document unless it holds escapes.
    pub(crate) fn string(&mut self) -> Result<Cow<'a, str>> {
        self.eat(b'"')?;
        let b = self.bytes();
        let start = self.pos;
        let mut i = plain_run(b, start);
        while let Some(&c) = b.get(i) {
            match c {
                b'"' => {
                    self.pos = i + 1;
                    return Ok(Cow::Borrowed(&self.text[start..i]));
                }
                b'\\' => break,
                0..=0x1f => {
                    self.pos = i;
                    return Err(self.error(K::ControlCharacter));
                }
                _ => i += 1,
            }
        }
        if i >= b.len() {
            self.pos = i;
            return Err(self.error(K::UnterminatedString));
        }
        let mut out = String::with_capacity(i - start + 16);
        out.push_str(&self.text[start..i]);
        self.pos = i;
        loop {
            let Some(&c) = b.get(self.pos) else {
                return Err(self.error(K::UnterminatedString));
            };
            match c {
                b'"' => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                b'\\' => {
                    let Some(&e) = b.get(self.pos + 1) else {
                        return Err(self.error(K::UnterminatedEscape));
                    };
                    self.pos += 2;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let ch = if (0xd800..0xdc00).contains(&hi) {
                                if b.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                    return Err(self.error(K::LoneLeadingSurrogate));
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err(self.error(K::InvalidTrailingSurrogate));
                                }
                                char::from_u32(0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00))
                            } else {
                                char::from_u32(hi)
                            };
                            out.push(ch.ok_or_else(|| self.error(K::LoneTrailingSurrogate))?);
                        }
                        _ => return Err(self.error(K::InvalidEscape)),
                    }
                }
                0..=0x1f => return Err(self.error(K::ControlCharacter)),
                _ => {
                    // Copy the run up to the next quote, backslash or control character.
                    let run = b[self.pos..].iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
                    let stop = run.map_or(b.len(), |n| self.pos + n);
                    out.push_str(&self.text[self.pos..stop]);
                    self.pos = stop;
                }
            }
        }
    }

    /// The unread bytes (for a caller's fast path over a layout it expects).
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.bytes()[self.pos..]
    }

    /// Consume `n` bytes the caller has checked (from [`Reader::rest`]).
    pub(crate) fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.text.len());
    }

    /// A string of exactly `len` plain characters (no escape), as a slice, consumed; or
    /// `None` with nothing consumed (the caller falls back to [`Reader::string`]).
    pub(crate) fn quoted(&mut self, len: usize) -> Option<&'a str> {
        self.ws();
        let b = self.bytes();
        let start = self.pos + 1;
        if b.get(self.pos) != Some(&b'"') || b.get(start + len) != Some(&b'"') {
            return None;
        }
        let body = self.text.get(start..start + len)?;
        if body.bytes().any(|c| c == b'"' || c == b'\\' || c < 0x20) {
            return None;
        }
        self.pos = start + len + 1;
        Some(body)
    }

    fn hex4(&mut self) -> Result<u32> {
        let digits = self.bytes().get(self.pos..self.pos + 4).ok_or_else(|| self.error(K::ShortUnicodeEscape))?;
        let mut v = 0u32;
        for &d in digits {
            let x = (d as char).to_digit(16).ok_or_else(|| self.error(K::InvalidUnicodeEscape))?;
            v = v * 16 + x;
        }
        self.pos += 4;
        Ok(v)
    }

    /// A non-negative integer (no sign, fraction or exponent; no leading zero).
    pub(crate) fn u64(&mut self) -> Result<u64> {
        self.ws();
        let b = self.bytes();
        let start = self.pos;
        let mut v: u64 = 0;
        while let Some(&d) = b.get(self.pos)
            && d.is_ascii_digit()
        {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .ok_or_else(|| self.error(K::IntegerOutOfRange))?;
            self.pos += 1;
        }
        let digits = self.pos - start;
        if digits == 0 {
            return Err(self.error(K::ExpectedInteger));
        }
        if digits > 1 && b[start] == b'0' {
            return Err(self.error(K::LeadingZero));
        }
        if matches!(b.get(self.pos), Some(b'.' | b'e' | b'E')) {
            return Err(self.error(K::FractionOrExponent));
        }
        Ok(v)
    }

    pub(crate) fn bool(&mut self) -> Result<bool> {
        self.ws();
        let rest = &self.bytes()[self.pos..];
        if rest.starts_with(b"true") {
            self.pos += 4;
            Ok(true)
        } else if rest.starts_with(b"false") {
            self.pos += 5;
            Ok(false)
        } else {
            Err(self.error(K::ExpectedBoolean))
        }
    }

    /// `null` (consumed, `true`) or anything else (left, `false`).
    pub(crate) fn null(&mut self) -> bool {
        self.ws();
        if self.bytes()[self.pos..].starts_with(b"null") {
            self.pos += 4;
            true
        } else {
            false
        }
    }

    /// Walk an object: `f` is called with each key and must consume its value.
    pub(crate) fn object(&mut self, mut f: impl FnMut(&mut Self, Cow<'a, str>) -> Result<()>) -> Result<()> {
        self.eat(b'{')?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            f(self, key)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.error(K::ExpectedCommaOrBrace)),
            }
        }
    }

    /// Walk an array: `f` is called once per element and must consume it.
    pub(crate) fn array(&mut self, mut f: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        self.eat(b'[')?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            f(self)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.error(K::ExpectedCommaOrBracket)),
            }
        }
    }

    /// Skip any value, checking its syntax and refusing a key twice in any of its objects.
    pub(crate) fn skip_value(&mut self, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(self.error(K::TooDeep));
        }
        match self.peek() {
            Some(b'{') => {
                let mut keys: Vec<Cow<'a, str>> = Vec::new();
                self.object(|r, key| {
                    if keys.contains(&key) {
                        return Err(ReadError::Duplicate { key: key.into_owned(), object: "an object".into() });
                    }
                    keys.push(key);
                    r.skip_value(depth + 1)
                })
            }
            Some(b'[') => self.array(|r| r.skip_value(depth + 1)),
            Some(b'"') => self.string().map(drop),
            Some(b't' | b'f') => self.bool().map(drop),
            Some(b'n') if self.null() => Ok(()),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.error(K::ExpectedValue)),
        }
    }

    /// Any JSON number (skipped).
    fn number(&mut self) -> Result<()> {
        let b = self.bytes();
        let digits = |pos: &mut usize| {
            let start = *pos;
            while b.get(*pos).is_some_and(u8::is_ascii_digit) {
                *pos += 1;
            }
            *pos - start
        };
        let mut p = self.pos;
        if b.get(p) == Some(&b'-') {
            p += 1;
        }
        let int_start = p;
        let n = digits(&mut p);
        if n == 0 || (n > 1 && b[int_start] == b'0') {
            self.pos = p;
            return Err(self.error(K::InvalidNumber));
        }
        if b.get(p) == Some(&b'.') {
            p += 1;
            if digits(&mut p) == 0 {
                self.pos = p;
                return Err(self.error(K::InvalidNumber));
            }
        }
        if matches!(b.get(p), Some(b'e' | b'E')) {
            p += 1;
            if matches!(b.get(p), Some(b'+' | b'-')) {
                p += 1;
            }
            if digits(&mut p) == 0 {
                self.pos = p;
                return Err(self.error(K::InvalidNumber));
            }
        }
        self.pos = p;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_escapes() {
        let mut r = Reader::new(br#""plain" "a\"b\\c\/\n\u00e9\ud83d\ude00" "\ud800" "x"#).expect("utf-8");
        assert!(matches!(r.string(), Ok(Cow::Borrowed("plain"))));
        assert_eq!(r.string().expect("escapes"), "a\"b\\c/\n\u{e9}\u{1f600}");
        assert!(r.string().is_err(), "lone surrogate");
        let mut r = Reader::new(b"\"x").expect("utf-8");
        assert!(r.string().is_err(), "unterminated");
    }

    #[test]
    fn integers() {
        for (text, ok) in [("0", Some(0)), ("17", Some(17)), ("01", None), ("-1", None), ("1.5", None), ("1e3", None)] {
            let mut r = Reader::new(text.as_bytes()).expect("utf-8");
            assert_eq!(r.u64().ok(), ok, "{text}");
        }
        let mut r = Reader::new(b"18446744073709551616").expect("utf-8");
        assert!(r.u64().is_err(), "overflow");
    }

    #[test]
    fn skipping_refuses_duplicates_and_bad_syntax() {
        let ok = br#"{"a":[1,-2.5e3,true,null,{"b":"c"}],"d":{}}"#;
        let mut r = Reader::new(ok).expect("utf-8");
        r.skip_value(0).expect("valid");
        r.end().expect("nothing after");
        let mut r = Reader::new(br#"{"a":1,"a":2}"#).expect("utf-8");
        assert!(matches!(r.skip_value(0), Err(ReadError::Duplicate { .. })));
        for bad in [&b"[1,]"[..], b"{\"a\" 1}", b"01", b"[", b"tru"] {
            let mut r = Reader::new(bad).expect("utf-8");
            assert!(r.skip_value(0).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(Reader::new(deep.as_bytes()).expect("utf-8").skip_value(0).is_err());
    }

    /// A refusal is a value: where the reader stopped and what it found there, and its text
    /// is the one the manifest error quotes.
    #[test]
    fn a_syntax_error_names_its_offset_and_kind() {
        let err = Reader::new(b"[1,]").expect("utf-8").skip_value(0).expect_err("a value is missing");
        let expected = JsonError { offset: 3, kind: K::ExpectedValue };
        assert_eq!(err, ReadError::Syntax(expected.clone()));
        assert_eq!(expected.to_string(), "expected a value at byte 3");
        let Err(ReadError::Syntax(err)) = Reader::new(b"ok\xff") else { panic!("not UTF-8") };
        assert_eq!((err.offset, err.kind), (2, K::NotUtf8));
    }
}
