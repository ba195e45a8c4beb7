//! Comparing clinics without moving identities: each clinic node sends the hub counts only
//! (per measure and month, a numerator and a denominator over the whole clinic), and the
//! hub shows each clinic's value against its community, its health authority and the
//! province. Small cells are suppressed everywhere they are shown:
//!
//! - a count (numerator, denominator, or the patients of the denominator not in the
//!   numerator, which the two give away) of 1 to [`SMALL_CELL`]` - 1` patients is not
//!   shown; zero is;
//! - a group's total (community, health authority, province) is not shown when it is small
//!   itself, or when what it adds to the parts shown in it is small: the total minus its
//!   shown clinics and shown smaller groups gives away the sum of the suppressed clinics
//!   that no shown group covers, so that sum must itself be showable ([`Part::group`]).
//!   Groups nest (clinic ⊂ community ⊂ health authority ⊂ province), so subtracting a shown
//!   health authority from the province, or a shown community from its authority, never
//!   leaves fewer than five patients of suppressed clinics.
//!
//! The measures are the registries and care-gap rules that ship with Attach, and only a
//! clinic whose definition is the shipped one sends it: a clinic's own codes or interval
//! measure something else, and a comparison of unlike things says nothing.

use serde::{Deserialize, Serialize};

/// Counts below this (and above zero) are suppressed.
pub const SMALL_CELL: u32 = 5;

/// One measure at one clinic (or a group of clinics) for one month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub numerator: u32,
    pub denominator: u32,
}

impl Count {
    pub fn new(numerator: u32, denominator: u32) -> Self {
        Self {
            numerator: numerator.min(denominator),
            denominator,
        }
    }

    /// The patients counted in the denominator and not the numerator.
    pub fn rest(self) -> u32 {
        self.denominator.saturating_sub(self.numerator)
    }

    fn small(n: u32) -> bool {
        n > 0 && n < SMALL_CELL
    }

    /// Whether the count may be shown: none of its cells is small.
    pub fn may_show(self) -> bool {
        !(Self::small(self.numerator) || Self::small(self.denominator) || Self::small(self.rest()))
    }

    pub fn plus(self, other: Self) -> Self {
        Self {
            numerator: self.numerator.saturating_add(other.numerator),
            denominator: self.denominator.saturating_add(other.denominator),
        }
    }

    /// The share, as a percentage; `None` with no denominator.
    pub fn percent(self) -> Option<f64> {
        (self.denominator > 0)
            .then(|| f64::from(self.numerator) * 100.0 / f64::from(self.denominator))
    }
}

/// What may be shown of a count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    /// Nothing counted (no clinic sent the measure, or its denominator is zero).
    Empty,
    /// Fewer than [`SMALL_CELL`] patients somewhere in it.
    Suppressed,
    Shown(Count),
}

impl Cell {
    /// One clinic's count.
    pub fn of(c: Count) -> Self {
        if c.denominator == 0 {
            Self::Empty
        } else if c.may_show() {
            Self::Shown(c)
        } else {
            Self::Suppressed
        }
    }

    /// "61.2 % (312 of 510)", "fewer than 5", "none counted".
    pub fn label(self) -> String {
        match self {
            Self::Empty => "none counted".to_owned(),
            Self::Suppressed => format!("suppressed (fewer than {SMALL_CELL})"),
            Self::Shown(c) => format!(
                "{:.1} % ({} of {})",
                c.percent().unwrap_or(0.0),
                c.numerator,
                c.denominator
            ),
        }
    }
}

/// A clinic's or a group's count in the nesting of groups, with what may be shown of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Part {
    pub total: Count,
    pub cell: Cell,
    /// The part of `total` no shown part explains: the suppressed clinics under it not
    /// inside a shown group (what the total would give away, were it shown).
    hidden: Count,
}

impl Part {
    pub fn clinic(c: Count) -> Self {
        let cell = Cell::of(c);
        Self {
            total: c,
            cell,
            hidden: if cell == Cell::Suppressed {
                c
            } else {
                Count::default()
            },
        }
    }

    /// A group of clinics and smaller groups (disjoint, and together the whole group).
    pub fn group(parts: &[Part]) -> Self {
        let total = parts.iter().fold(Count::default(), |a, p| a.plus(p.total));
        let hidden = parts
            .iter()
            .filter(|p| !matches!(p.cell, Cell::Shown(_)))
            .fold(Count::default(), |a, p| a.plus(p.hidden));
        let cell = match Cell::of(total) {
            Cell::Shown(_) if hidden.denominator > 0 && !hidden.may_show() => Cell::Suppressed,
            cell => cell,
        };
        Self {
            total,
            cell,
            hidden,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clinic_count_with_any_small_cell_is_suppressed_and_zero_is_not_small() {
        assert_eq!(Cell::of(Count::new(0, 0)), Cell::Empty);
        assert_eq!(Cell::of(Count::new(0, 40)), Cell::Shown(Count::new(0, 40)));
        assert_eq!(
            Cell::of(Count::new(40, 40)),
            Cell::Shown(Count::new(40, 40))
        );
        for c in [
            Count::new(4, 40),  // the numerator
            Count::new(3, 4),   // the denominator
            Count::new(37, 40), // the three not counted, given away by the two
            Count::new(1, 1),
        ] {
            assert_eq!(Cell::of(c), Cell::Suppressed, "{c:?}");
        }
        assert_eq!(Cell::of(Count::new(5, 10)), Cell::Shown(Count::new(5, 10)));
        // A numerator is never more than its denominator.
        assert_eq!(Count::new(12, 10), Count::new(10, 10));
    }

    #[test]
    fn a_group_total_is_suppressed_when_it_would_give_a_suppressed_clinic_away() {
        let clinics = |cs: &[Count]| cs.iter().map(|c| Part::clinic(*c)).collect::<Vec<_>>();
        let big = Count::new(120, 400);
        let small = Count::new(3, 60);
        // The group's total minus the big clinic's shown count is the small clinic.
        assert_eq!(Part::group(&clinics(&[big, small])).cell, Cell::Suppressed);
        // Two suppressed clinics whose sum is no longer small: the total gives only it.
        let other = Count::new(4, 70);
        assert_eq!(
            Part::group(&clinics(&[big, small, other])).cell,
            Cell::Shown(Count::new(127, 530))
        );
        // Nothing suppressed: the total of all.
        assert_eq!(
            Part::group(&clinics(&[big, Count::new(20, 80)])).cell,
            Cell::Shown(Count::new(140, 480))
        );
        // A total that is small itself.
        assert_eq!(
            Part::group(&clinics(&[Count::new(1, 2), Count::new(1, 1)])).cell,
            Cell::Suppressed
        );
        assert_eq!(Part::group(&[]).cell, Cell::Empty);
    }

    #[test]
    fn nested_groups_never_give_a_suppressed_clinic_away_by_subtraction() {
        let c = Part::clinic;
        // Community A: a big clinic and a small one (suppressed, so A is too).
        let a = Part::group(&[c(Count::new(100, 300)), c(Count::new(2, 40))]);
        assert_eq!(a.cell, Cell::Suppressed);
        // Community B: shown.
        let b = Part::group(&[c(Count::new(50, 200)), c(Count::new(60, 210))]);
        assert!(matches!(b.cell, Cell::Shown(_)));
        // The authority minus B minus A's shown clinic would be the small clinic.
        let ha = Part::group(&[a, b]);
        assert_eq!(ha.cell, Cell::Suppressed);
        // And so would the province minus another authority shown.
        let other_ha = Part::group(&[Part::group(&[c(Count::new(500, 900))])]);
        let province = Part::group(&[ha, other_ha]);
        assert_eq!(province.cell, Cell::Suppressed);
        // A second small clinic in another community of the authority: the authority
        // gives away only the two together (2 + 3 of 40 + 40), and the province then
        // nothing more.
        let c2 = Part::group(&[c(Count::new(3, 40)), c(Count::new(50, 100))]);
        assert_eq!(c2.cell, Cell::Suppressed);
        let ha = Part::group(&[a, b, c2]);
        assert_eq!(ha.cell, Cell::Shown(Count::new(265, 890)));
        let province = Part::group(&[ha, other_ha]);
        assert_eq!(province.cell, Cell::Shown(Count::new(765, 1790)));
    }

    #[test]
    fn labels_say_the_share_and_the_counts_or_why_not() {
        assert_eq!(
            Cell::of(Count::new(312, 510)).label(),
            "61.2 % (312 of 510)"
        );
        assert_eq!(
            Cell::of(Count::new(2, 510)).label(),
            "suppressed (fewer than 5)"
        );
        assert_eq!(Cell::Empty.label(), "none counted");
    }
}
