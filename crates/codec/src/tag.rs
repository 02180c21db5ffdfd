//! The 64-bit tag users see as 16 hexadecimal digits.

use std::fmt;
use std::str::FromStr;

use crate::CodecError;

/// Number of data bits in a tag.
pub const TAG_BITS: usize = 64;
/// Number of hexadecimal digits in a tag's text form.
pub const TAG_HEX_DIGITS: usize = TAG_BITS / 4;

/// A 64-bit tag: the data a tagged image carries.
///
/// Shown and parsed as exactly 16 hexadecimal digits (lower case when shown; either case, with an
/// optional `0x`, when parsed).
///
/// ```
/// use faketagger_codec::Tag;
/// let tag: Tag = "00c0ffee12345678".parse().unwrap();
/// assert_eq!(tag.to_string(), "00c0ffee12345678");
/// assert!("c0ffee".parse::<Tag>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(u64);

impl Tag {
    /// The tag with this value.
    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// The tag's value.
    pub const fn value(self) -> u64 {
        self.0
    }

    /// The tag's 8 bytes, most significant first: the order they are framed in.
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// The tag made of these 8 bytes, most significant first.
    pub const fn from_bytes(bytes: [u8; 8]) -> Self {
        Self(u64::from_be_bytes(bytes))
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for Tag {
    type Err = CodecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .unwrap_or(s);
        if digits.len() != TAG_HEX_DIGITS || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CodecError::BadTag { text: s.to_owned() });
        }
        u64::from_str_radix(digits, 16)
            .map(Tag)
            .map_err(|_| CodecError::BadTag { text: s.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_sixteen_hex_digits() {
        for text in ["0000000000000000", "ffffffffffffffff", "0123456789abcdef"] {
            assert_eq!(text.parse::<Tag>().unwrap().to_string(), text);
        }
        assert_eq!(
            "0X0123456789ABCDEF".parse::<Tag>().unwrap().value(),
            0x0123_4567_89ab_cdef
        );
    }

    #[test]
    fn rejects_malformed_text() {
        for text in [
            "",
            "0x",
            "123",
            "0123456789abcdef0",
            "0123456789abcdeg",
            "+123456789abcdef",
            " 0123456789abcde",
            "０123456789abcde",
        ] {
            let err = text.parse::<Tag>().unwrap_err();
            assert!(err.to_string().contains("16 hex"), "{text}: {err}");
        }
    }

    #[test]
    fn bytes_round_trip() {
        let tag = Tag::new(0x0102_0304_0506_0708);
        assert_eq!(tag.to_bytes(), [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(Tag::from_bytes(tag.to_bytes()), tag);
    }
}
