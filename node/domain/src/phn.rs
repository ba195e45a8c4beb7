//! British Columbia personal health number (PHN).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A valid BC PHN: ten digits, the first a 9, the tenth a mod-11 check digit over
/// digits 2–9 with weights 2, 4, 8, 5, 10, 9, 7, 3.
///
/// Holding a `Phn` means the number was checked. Its `Debug` form is masked so a
/// health number never reaches a log by accident; `Display` shows the full number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Phn(u64);

/// Why a string is not a valid PHN. The message is meant for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhnError {
    #[error("a PHN is 10 digits; this has {0} characters")]
    Length(usize),
    #[error("a PHN contains only digits")]
    NotDigits,
    #[error("a BC PHN starts with 9")]
    LeadingDigit,
    #[error("the check digit does not match; a digit is probably mistyped")]
    CheckDigit,
}

const WEIGHTS: [u32; 8] = [2, 4, 8, 5, 10, 9, 7, 3];

impl Phn {
    /// Parses a PHN, accepting spaces and dashes as separators ("9876 543 210").
    pub fn parse(input: &str) -> Result<Self, PhnError> {
        let digits: String = input
            .trim()
            .chars()
            .filter(|c| *c != ' ' && *c != '-')
            .collect();
        if digits.chars().count() != 10 {
            return Err(PhnError::Length(digits.chars().count()));
        }
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhnError::NotDigits);
        }
        let d: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
        if d[0] != 9 {
            return Err(PhnError::LeadingDigit);
        }
        if Self::check_digit(&d[1..9]) != Some(d[9]) {
            return Err(PhnError::CheckDigit);
        }
        let n = digits.parse::<u64>().map_err(|_| PhnError::NotDigits)?;
        Ok(Self(n))
    }

    /// The check digit for the eight digits after the leading 9, or `None` when no
    /// digit can make the number valid (remainder 1 gives 10).
    pub fn check_digit(body: &[u32]) -> Option<u32> {
        let sum: u32 = body.iter().zip(WEIGHTS).map(|(d, w)| (d * w) % 11).sum();
        let check = 11 - (sum % 11);
        match check {
            11 => Some(0),
            10 => None,
            c => Some(c),
        }
    }

    /// Builds a valid PHN from an eight-digit body (0..=99_999_999), or `None` if that
    /// body has no valid check digit. Used by synthetic-data generators.
    pub fn from_body(body: u32) -> Option<Self> {
        if body > 99_999_999 {
            return None;
        }
        let digits: Vec<u32> = format!("{body:08}")
            .bytes()
            .map(|b| u32::from(b - b'0'))
            .collect();
        let check = Self::check_digit(&digits)?;
        Some(Self(
            9_000_000_000 + u64::from(body) * 10 + u64::from(check),
        ))
    }

    pub fn as_u64(&self) -> u64 {
        self.0
    }
}

impl fmt::Display for Phn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:010}", self.0)
    }
}

impl fmt::Debug for Phn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Phn(******)")
    }
}

impl FromStr for Phn {
    type Err = PhnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Phn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Phn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Phn::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_published_example() {
        // 9123456789: 1*2+2*4+3*8+4*5+5*10+6*9+7*7+8*3 = 2+8+24+20+50+54+49+24 (each mod 11:
        // 2,8,2,9,6,10,5,2) = 44 -> 44 % 11 = 0 -> check 11 -> 0. So 9123456780 is valid.
        assert!(Phn::parse("9123456780").is_ok());
        assert_eq!(Phn::parse("9123456789"), Err(PhnError::CheckDigit));
    }

    #[test]
    fn rejects_bad_shapes_with_reason() {
        assert_eq!(Phn::parse("912345678"), Err(PhnError::Length(9)));
        assert_eq!(Phn::parse("91234567801"), Err(PhnError::Length(11)));
        assert_eq!(Phn::parse("91234a6780"), Err(PhnError::NotDigits));
        assert_eq!(Phn::parse("8123456780"), Err(PhnError::LeadingDigit));
        assert_eq!(Phn::parse(""), Err(PhnError::Length(0)));
    }

    #[test]
    fn separators_are_ignored() {
        assert_eq!(
            Phn::parse("9123 456 780").ok(),
            Phn::parse("9123456780").ok()
        );
        assert!(Phn::parse("9123-456-780").is_ok());
    }

    #[test]
    fn from_body_round_trips_and_skips_impossible_bodies() {
        let mut valid = 0;
        for body in 0..2_000u32 {
            if let Some(p) = Phn::from_body(body * 4_999) {
                valid += 1;
                assert_eq!(Phn::parse(&p.to_string()), Ok(p));
            }
        }
        // About one body in eleven has remainder 1 and no check digit.
        assert!((1_700..1_900).contains(&valid), "{valid}");
    }

    #[test]
    fn debug_never_shows_the_number() {
        let p = Phn::parse("9123456780").expect("valid");
        assert!(!format!("{p:?}").contains("912345"));
        assert_eq!(p.to_string(), "9123456780");
    }

    #[test]
    fn serde_validates() {
        let p: Phn = serde_json::from_str("\"9123456780\"").expect("valid");
        assert_eq!(serde_json::to_string(&p).expect("ser"), "\"9123456780\"");
        assert!(serde_json::from_str::<Phn>("\"9123456789\"").is_err());
    }
}
