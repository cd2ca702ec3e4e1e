//! The number check: every figure a claim states must be in its quotes, or follow from
//! them by simple arithmetic.
//!
//! Numbers are read as whole numbers with their form: `$412.5 million` is 412.5 at the
//! scale of a million, `2,340` is 2340, `9%` is a percentage, `2024` a number like any
//! other (years are checked, though never used as operands). A claimed number is supported
//! when a quote holds the same value (rounded to the claim's precision: `412` or `413` for
//! `412.5`, never `41`), at the same scale when both say one; or when it is a sum,
//! difference, ratio, percentage or percent change of quoted numbers (`by $24.4 million` =
//! 412.5 − 388.1), in which case the check says how it was derived. A number the quotes do
//! not support fails, with the nearest figure the quotes do give when there is one.

use std::sync::LazyLock;

/// Quoted numbers used as operands at most (the first ones): bounds the pairs tried.
const MAX_OPERANDS: usize = 24;
/// A total of all operands is tried when there are at most this many.
const MAX_SUMMED: usize = 12;
/// A wrong figure is told its nearest derivation when that is within this relative distance.
const NEAR_MISS: f64 = 0.5;

/// One number as written in a text.
#[derive(Debug, Clone, PartialEq)]
pub struct Num {
    /// As written (`$412.5 million`, `9%`).
    pub text: String,
    /// The value as written, without scale and sign (`412.5`).
    pub value: f64,
    /// Digits after the decimal point (the precision the writer claimed).
    pub decimals: u32,
    /// `million` = 1e6, ...; 1 when no scale word.
    pub scale: f64,
    /// Whether a scale word or suffix was written (`41` in a table in millions has none).
    pub scaled: bool,
    pub percent: bool,
    /// `2.5x`, `1.06 times`.
    pub ratio: bool,
}

impl Num {
    fn full(&self) -> f64 {
        self.value * self.scale
    }
    /// Four-digit whole numbers 1800-2100 with no unit: years, not quantities.
    fn year_like(&self) -> bool {
        self.decimals == 0
            && !self.scaled
            && !self.percent
            && !self.text.contains([',', '$', '€', '£', '¥'])
            && (1800.0..=2100.0).contains(&self.value)
    }
    /// One unit of the last written digit, at `scale`.
    fn unit(&self, scale: f64) -> f64 {
        10f64.powi(-(self.decimals as i32)) * scale
    }
}

static NUMBER: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        r"(?ix)
        (?P<cur>[$€£¥]\s?)?
        (?P<int>\d{1,3}(?:,\d{3})+|\d+)
        (?P<frac>\.\d+)?
        (?P<unit>
            \s?(?:%|percent\b|per\s?cent\b|pct\b|percentage\s+points?\b|pp\b)
          | \s?(?:trillion|billion|million|thousand|bn|mn|tn)\b
          | (?:k|m|b|bn|x|×)\b
          | \s(?:times|x)\b
          | (?:st|nd|rd|th)\b
        )?",
    )
    .expect("a valid pattern")
});

/// The numbers in `text`, in order. Digits glued to letters or underscores (`P3`, `Q4`,
/// `x86`, `test_2`, `5G`) are names, not numbers.
pub fn numbers(text: &str) -> Vec<Num> {
    let mut found = Vec::new();
    for m in NUMBER.captures_iter(text) {
        let whole = m.get(0).expect("the whole match");
        let before = text[..whole.start()].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
            continue;
        }
        let after = text[whole.end()..].chars().next();
        if after.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let int = m["int"].replace(',', "");
        let frac = m.name("frac").map_or("", |f| f.as_str());
        let Ok(value) = format!("{int}{frac}").parse::<f64>() else {
            continue;
        };
        let unit = m
            .name("unit")
            .map_or(String::new(), |u| u.as_str().trim().to_lowercase());
        let (scale, scaled) = match unit.as_str() {
            "thousand" | "k" => (1e3, true),
            "million" | "mn" | "m" => (1e6, true),
            "billion" | "bn" | "b" => (1e9, true),
            "trillion" | "tn" => (1e12, true),
            _ => (1.0, false),
        };
        let percent = unit.starts_with('%')
            || unit.starts_with("per")
            || unit.starts_with("pct")
            || unit == "pp";
        let ratio = matches!(unit.as_str(), "x" | "×" | "times");
        found.push(Num {
            text: whole.as_str().trim().to_string(),
            value,
            decimals: frac.len().saturating_sub(1) as u32,
            scale,
            scaled,
            percent,
            ratio,
        });
    }
    found
}

/// Whether the quoted number `q` states the claimed number `c`: the same value, or the
/// quote rounded to the claim's (coarser) precision. A bare number and a scaled one agree
/// either as written (`41` in a table in millions) or in full (`41,000,000`).
fn same(c: &Num, q: &Num) -> bool {
    let full = agrees(c.full(), c.unit(c.scale), q.full(), q.unit(q.scale));
    let raw = agrees(c.value, c.unit(1.0), q.value, q.unit(1.0));
    match (c.scaled, q.scaled) {
        (true, true) => full,
        (false, false) => raw,
        _ => raw || full,
    }
}

/// Claimed value `cv` written to precision `cu` against `qv` written to precision `qu`.
fn agrees(cv: f64, cu: f64, qv: f64, qu: f64) -> bool {
    let tolerance = if cu > qu * (1.0 + 1e-9) {
        0.5 * cu
    } else {
        1e-9 * cv.abs().max(1.0)
    };
    (cv - qv).abs() <= tolerance
}

/// A figure derived from quoted numbers: its value, and how (`412.5 − 388.1`).
#[derive(Debug, Clone)]
struct Derived {
    value: f64,
    /// Value times scale, for sums and differences of scaled numbers.
    full: Option<f64>,
    how: String,
    kind: DerivedKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DerivedKind {
    /// A sum or difference: in the operands' unit.
    Amount,
    Percent,
    Ratio,
}

fn fmt(x: f64) -> String {
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// The figures simple arithmetic gives from `operands`.
fn derivations(operands: &[Num]) -> Vec<Derived> {
    let ops: Vec<&Num> = operands
        .iter()
        .filter(|n| !n.year_like() && !n.ratio)
        .take(MAX_OPERANDS)
        .collect();
    let mut out = Vec::new();
    for (i, a) in ops.iter().enumerate() {
        for (j, b) in ops.iter().enumerate() {
            if i == j {
                continue;
            }
            let comparable = a.percent == b.percent;
            if comparable && i < j {
                let same_scale = a.scale == b.scale;
                let amount = |value: f64, full: f64, how: String| Derived {
                    value,
                    full: Some(full),
                    how,
                    kind: if a.percent {
                        DerivedKind::Percent
                    } else {
                        DerivedKind::Amount
                    },
                };
                out.push(amount(
                    if same_scale {
                        a.value + b.value
                    } else {
                        f64::NAN
                    },
                    a.full() + b.full(),
                    format!("{} + {}", a.text, b.text),
                ));
                let (hi, lo) = if a.full() >= b.full() { (a, b) } else { (b, a) };
                out.push(amount(
                    if same_scale {
                        hi.value - lo.value
                    } else {
                        f64::NAN
                    },
                    hi.full() - lo.full(),
                    format!("{} − {}", hi.text, lo.text),
                ));
            }
            if b.full() != 0.0 && !a.percent && !b.percent {
                let ratio = a.full() / b.full();
                out.push(Derived {
                    value: ratio,
                    full: None,
                    how: format!("{} / {}", a.text, b.text),
                    kind: DerivedKind::Ratio,
                });
                out.push(Derived {
                    value: ratio * 100.0,
                    full: None,
                    how: format!("{} / {} × 100", a.text, b.text),
                    kind: DerivedKind::Percent,
                });
                if a.full() > b.full() {
                    out.push(Derived {
                        value: (ratio - 1.0) * 100.0,
                        full: None,
                        how: format!("({} − {}) / {} × 100", a.text, b.text, b.text),
                        kind: DerivedKind::Percent,
                    });
                } else if a.full() < b.full() {
                    out.push(Derived {
                        value: (1.0 - ratio) * 100.0,
                        full: None,
                        how: format!("({} − {}) / {} × 100", b.text, a.text, b.text),
                        kind: DerivedKind::Percent,
                    });
                }
            }
        }
    }
    let summable: Vec<&&Num> = ops.iter().filter(|n| !n.percent).collect();
    if (3..=MAX_SUMMED).contains(&summable.len()) {
        let same_scale = summable.iter().all(|n| n.scale == summable[0].scale);
        out.push(Derived {
            value: if same_scale {
                summable.iter().map(|n| n.value).sum()
            } else {
                f64::NAN
            },
            full: Some(summable.iter().map(|n| n.full()).sum()),
            how: summable
                .iter()
                .map(|n| n.text.as_str())
                .collect::<Vec<_>>()
                .join(" + "),
            kind: DerivedKind::Amount,
        });
    }
    out
}

/// Whether the derived figure `d` is of the claimed number's kind (an amount, a
/// percentage, a ratio).
fn kind_fits(c: &Num, d: &Derived) -> bool {
    match d.kind {
        DerivedKind::Amount => !c.percent && !c.ratio,
        DerivedKind::Percent => c.percent,
        DerivedKind::Ratio => c.ratio,
    }
}

/// Whether the claimed number `c` is the derived figure `d`, rounded to the claim's
/// precision.
fn matches_derived(c: &Num, d: &Derived) -> bool {
    if !kind_fits(c, d) {
        return false;
    }
    match (d.kind, d.full) {
        (DerivedKind::Amount, Some(full)) if c.scaled => {
            (c.full() - full).abs() <= 0.5 * c.unit(c.scale) + 1e-9
        }
        _ => (c.value - d.value).abs() <= 0.5 * c.unit(1.0) + 1e-9,
    }
}

/// The derived figure nearest to `c` (relatively), when it is near enough to be what the
/// author meant.
fn nearest_derived<'a>(c: &Num, ds: &'a [Derived]) -> Option<(&'a Derived, f64)> {
    ds.iter()
        .filter_map(|d| {
            let kind_fits = kind_fits(c, d);
            let shown = if c.scaled && d.kind == DerivedKind::Amount {
                d.full? / c.scale
            } else {
                d.value
            };
            (kind_fits && shown.is_finite()).then_some((d, shown))
        })
        .filter(|(_, shown)| {
            let denominator = c.value.abs().max(f64::MIN_POSITIVE);
            ((shown - c.value).abs() / denominator) <= NEAR_MISS
        })
        .min_by(|(_, x), (_, y)| {
            (x - c.value)
                .abs()
                .partial_cmp(&(y - c.value).abs())
                .unwrap_or(std::cmp::Ordering::Equal)
        })
}

/// The outcome of the number check.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NumberCheck {
    /// Claimed numbers nothing supports, each with the reason ("25.4: the nearest figure
    /// derived from the quotes is 24.4 = $412.5 million − $388.1 million").
    pub unsupported: Vec<(String, String)>,
    /// How each derived number was obtained ("24.4 = $412.5 million − $388.1 million").
    pub derivations: Vec<String>,
}

impl NumberCheck {
    pub fn passed(&self) -> bool {
        self.unsupported.is_empty()
    }

    /// The rejection reason, `None` when every number is supported.
    pub fn reason(&self) -> Option<String> {
        if self.passed() {
            return None;
        }
        let parts: Vec<String> = self
            .unsupported
            .iter()
            .map(|(n, why)| format!("{n} ({why})"))
            .collect();
        Some(format!(
            "the claim states {} but the cited quotes do not: every number in the headline \
             and summary must be in a quote, or be a sum, difference, ratio or percentage of \
             quoted numbers",
            parts.join(", ")
        ))
    }

    /// The unsupported numbers as written.
    pub fn unsupported_texts(self) -> Vec<String> {
        self.unsupported.into_iter().map(|(n, _)| n).collect()
    }

    /// The verdict note for the derivations, `None` when nothing was derived.
    pub fn note(&self) -> Option<String> {
        (!self.derivations.is_empty()).then(|| format!("derived: {}", self.derivations.join("; ")))
    }
}

/// The numbers of a location string (`src/a.rs:141-150`, `q3.txt@1200+80`): the separators
/// are spaced out so line numbers glued to a path still count.
pub(super) fn location_numbers(text: &str) -> Vec<Num> {
    numbers(&text.replace([':', '@', '+', '#', '-'], " "))
}

/// Check the numbers of `claim` against `quoted` (the quotes' numbers) and `locations`
/// (numbers of the cited places, `lines 12-15`: a claim may name where it is from).
pub fn check(claim: &str, quoted: &[Num], locations: &[Num]) -> NumberCheck {
    let mut result = NumberCheck::default();
    let mut derived: Option<Vec<Derived>> = None;
    let mut seen: Vec<String> = Vec::new();
    for c in numbers(claim) {
        if seen.contains(&c.text) {
            continue;
        }
        seen.push(c.text.clone());
        if quoted.iter().any(|q| same(&c, q))
            || locations
                .iter()
                .any(|l| c.decimals == 0 && !c.scaled && l.value == c.value)
        {
            continue;
        }
        let ds = derived.get_or_insert_with(|| derivations(quoted));
        if let Some(d) = ds.iter().find(|d| matches_derived(&c, d)) {
            result.derivations.push(format!("{} = {}", c.text, d.how));
            continue;
        }
        let why = match nearest_derived(&c, ds) {
            Some((d, shown)) => format!(
                "the nearest figure the quotes give is {} = {}",
                fmt(shown),
                d.how
            ),
            None => "not in any quote".to_string(),
        };
        result.unsupported.push((c.text.clone(), why));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn supported(claim: &str, quote: &str) -> bool {
        check(claim, &numbers(quote), &[]).passed()
    }

    #[test]
    fn numbers_are_read_whole_with_their_form() {
        let ns = numbers(
            "Acme earned $412.5 million (2,340 staff, up 9%) in 2024; P3, Q4 and x86 are names.",
        );
        let texts: Vec<&str> = ns.iter().map(|n| n.text.as_str()).collect();
        assert_eq!(texts, ["$412.5 million", "2,340", "9%", "2024"]);
        assert_eq!((ns[0].value, ns[0].scale, ns[0].decimals), (412.5, 1e6, 1));
        assert_eq!(ns[1].value, 2340.0);
        assert!(ns[2].percent && ns[3].year_like());
        let ns = numbers("2.5x faster, 1.06 times more, €2.1bn, $5M");
        assert!(ns[0].ratio && ns[1].ratio);
        assert_eq!(ns[2].full(), 2.1e9);
        assert_eq!(ns[3].full(), 5e6);
        // Dates and ranges are their parts, not negative numbers.
        let ns = numbers("2024-03-15, lines 12-15");
        let values: Vec<f64> = ns.iter().map(|n| n.value).collect();
        assert_eq!(values, [2024.0, 3.0, 15.0, 12.0, 15.0]);
    }

    #[test]
    fn whole_numbers_only() {
        assert!(!supported(
            "revenue was $41 million",
            "revenue was $412.5 million"
        ));
        assert!(!supported("41 plants", "412.5"));
        assert!(supported("2340 staff", "2,340 employees"));
        assert!(supported("revenue of $412.5 million", "$412.5 million"));
        // Rounded to the claim's precision, not to another number.
        assert!(supported("about $412 million", "$412.5 million"));
        assert!(!supported("about $412.4 million", "$412.5 million"));
        assert!(supported(
            "margin 14.8%",
            "operating margin was 14.8 percent"
        ));
        assert!(!supported(
            "margin 14.9%",
            "operating margin was 14.8 percent"
        ));
        // Years are numbers too.
        assert!(!supported("revenue in 2023", "revenue in 2024 was high"));
        // Scales must agree when both are given; a bare table figure agrees with either.
        assert!(!supported("$41 billion", "$41 million"));
        assert!(supported("$41 million", "revenue ($m): 41"));
        assert!(supported("41,000,000 dollars", "$41 million"));
    }

    #[test]
    fn derived_figures_pass_with_their_derivation() {
        let quotes = numbers("Acme revenue was $412.5 million. Globex revenue was $388.1 million.");
        let c = check("Acme exceeded Globex by $24.4 million", &quotes, &[]);
        assert!(c.passed(), "{c:?}");
        assert_eq!(
            c.note().unwrap(),
            "derived: $24.4 million = $412.5 million − $388.1 million"
        );
        assert!(check("together $800.6 million", &quotes, &[]).passed());
        assert!(check("Acme was 6.3% higher", &quotes, &[]).passed());
        assert!(check("Acme was 1.06x Globex", &quotes, &[]).passed());
        // A wrong difference fails with the recomputed value.
        let c = check("Acme exceeded Globex by $25.4 million", &quotes, &[]);
        let reason = c.reason().unwrap();
        assert!(reason.contains("$25.4 million"), "{reason}");
        assert!(
            reason.contains("24.4 = $412.5 million − $388.1 million"),
            "{reason}"
        );
        // A plain small number is not "derived" from a ratio of two amounts.
        assert!(!check("1 vendor", &quotes, &[]).passed());
        // Years are never operands: 2024 − 2021 does not make "3 plants".
        let years = numbers("founded in 2021, reported in 2024");
        assert!(!check("3 plants", &years, &[]).passed());
    }

    #[test]
    fn locations_may_be_named() {
        let loc = numbers("lines 141-150");
        assert!(check("the bug is at line 141", &[], &loc).passed());
        assert!(!check("the bug is at line 142", &[], &loc).passed());
    }
}
