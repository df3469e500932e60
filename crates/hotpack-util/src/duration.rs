//! One way to print a duration, used by every hotpack tool and example: three significant
//! digits, in milliseconds below a second and in seconds from there (`0.042 ms`, `1.23 ms`,
//! `64.9 ms`, `812 ms`, `3.08 s`, `95.2 s`).

use std::fmt;
use std::time::Duration;

/// `d` in the one hotpack format (see the [module docs](self)).
///
/// ```
/// use std::time::Duration;
/// use hotpack_util::duration::format_duration;
///
/// assert_eq!(format_duration(Duration::from_micros(1234)), "1.23 ms");
/// assert_eq!(format_duration(Duration::from_micros(64_852)), "64.9 ms");
/// assert_eq!(format_duration(Duration::from_millis(3083)), "3.08 s");
/// ```
pub fn format_duration(d: Duration) -> String {
    Human(d).to_string()
}

/// A duration that displays in the one hotpack format (for `format!` and log fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Human(pub Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs_f64();
        let (value, unit) = if secs >= 1.0 { (secs, "s") } else { (secs * 1e3, "ms") };
        if unit == "ms" && value < 1.0 {
            write!(f, "{value:.3} {unit}")
        } else if value < 10.0 {
            write!(f, "{value:.2} {unit}")
        } else if value < 100.0 {
            write!(f, "{value:.1} {unit}")
        } else {
            write!(f, "{value:.0} {unit}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::format_duration;
    use std::time::Duration;

    #[test]
    fn three_significant_digits_in_ms_or_s() {
        let cases = [
            (Duration::from_nanos(42_000), "0.042 ms"),
            (Duration::from_micros(1234), "1.23 ms"),
            (Duration::from_micros(64_852), "64.9 ms"),
            (Duration::from_micros(812_400), "812 ms"),
            (Duration::from_micros(999_400), "999 ms"),
            (Duration::from_millis(3083), "3.08 s"),
            (Duration::from_millis(95_240), "95.2 s"),
            (Duration::from_secs(400), "400 s"),
        ];
        for (d, expected) in cases {
            assert_eq!(format_duration(d), expected, "{d:?}");
        }
    }
}
