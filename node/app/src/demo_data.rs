//! Deterministic synthetic patients for `attach demo` and the benchmarks.
//!
//! Same seed, same people: re-running the demo or a benchmark gives identical data. The
//! names are common Canadian given and family names combined at random; the health numbers
//! pass the BC check-digit rule so the software treats them as real, but they are generated,
//! not looked up, and the people they are paired with do not exist.

use time::{Date, Duration, Month};

use attach_domain::{Address, Contact, PatientDetails, Phn, Sex};

const GIVEN_FEMALE: &[&str] = &[
    "Olivia",
    "Emma",
    "Charlotte",
    "Amelia",
    "Sophia",
    "Chloe",
    "Ava",
    "Mia",
    "Evelyn",
    "Abigail",
    "Hannah",
    "Leah",
    "Madison",
    "Grace",
    "Zoey",
    "Aria",
    "Lily",
    "Ella",
    "Nora",
    "Scarlett",
    "Mary",
    "Linda",
    "Patricia",
    "Susan",
    "Margaret",
    "Dorothy",
    "Karen",
    "Nancy",
    "Sandra",
    "Donna",
    "Priya",
    "Harpreet",
    "Mei",
    "Ying",
    "Fatima",
    "Aisha",
    "Sofia",
    "Isabelle",
    "Gabrielle",
    "Camille",
    "Josée",
    "Ruth",
    "Joan",
    "Helen",
    "Catherine",
    "Jennifer",
    "Michelle",
];
const GIVEN_MALE: &[&str] = &[
    "Liam", "Noah", "William", "Lucas", "Benjamin", "Oliver", "Jacob", "Ethan", "James", "Logan",
    "Jack", "Thomas", "Samuel", "Nathan", "Owen", "Henry", "Leo", "Daniel", "Matthew", "Ryan",
    "Robert", "John", "Michael", "David", "Richard", "Joseph", "Charles", "Gordon", "Wayne",
    "Douglas", "Arjun", "Gurpreet", "Wei", "Jun", "Mohammed", "Omar", "Mateo", "Étienne",
    "Mathieu", "Louis", "Kenneth", "Gary", "Brian", "Kevin", "Steven", "Paul", "Andrew",
];
const FAMILY: &[&str] = &[
    "Smith",
    "Brown",
    "Tremblay",
    "Martin",
    "Roy",
    "Wilson",
    "MacDonald",
    "Gagnon",
    "Johnson",
    "Taylor",
    "Campbell",
    "Anderson",
    "Lee",
    "Leblanc",
    "White",
    "Thompson",
    "Côté",
    "Williams",
    "Jones",
    "Wong",
    "Chen",
    "Li",
    "Singh",
    "Gill",
    "Sandhu",
    "Dhillon",
    "Nguyen",
    "Patel",
    "Kim",
    "Park",
    "Morrison",
    "Fraser",
    "Stewart",
    "Robertson",
    "Clark",
    "Young",
    "Scott",
    "Reid",
    "Murray",
    "Ross",
    "Graham",
    "Walker",
    "Hall",
    "Allen",
    "King",
    "Wright",
    "Mitchell",
    "Bélanger",
    "Bouchard",
    "Gauthier",
    "Morin",
    "Lavoie",
    "Fortin",
    "Bergeron",
    "Joseph",
    "Jack",
    "George",
    "Thomas",
    "Alexander",
    "Michell",
    "Prince",
    "Tom",
    "Harry",
    "Wilkinson",
    "Hamilton",
    "Sutherland",
    "McKenzie",
    "Ferguson",
    "Kennedy",
    "Davidson",
    "Bell",
    "Grant",
];
/// Northern BC communities (the demo clinic is rural).
pub const COMMUNITIES: &[&str] = &[
    "Smithers",
    "Telkwa",
    "Houston",
    "Burns Lake",
    "Hazelton",
    "Moricetown",
    "Granisle",
    "Fraser Lake",
];
const STREETS: &[&str] = &[
    "Main St",
    "Railway Ave",
    "Alfred Ave",
    "Broadway Ave",
    "Queen St",
    "King St",
    "Highway 16",
    "Toronto St",
    "Victoria Dr",
    "Third Ave",
    "Fourth Ave",
    "Columbia Dr",
    "Hudson Bay Dr",
];

/// SplitMix64: tiny, fast and stable across library versions (the demo must not change
/// when a dependency does).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// `count` distinct synthetic patients. PHN bodies are spread over the whole 8-digit space
/// by a multiplicative step, so numbers look random but never repeat.
pub fn patients(seed: u64, count: usize, today: Date) -> Vec<PatientDetails> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(count);
    let mut body: u64 = 10_000_000 + seed % 1_000;
    while out.len() < count {
        // 48_271 is coprime with 10^8, so the walk visits each body at most once.
        body = (body * 48_271 + 12_345) % 100_000_000;
        let Some(phn) = Phn::from_body(body as u32) else {
            continue;
        };
        out.push(person(&mut rng, phn, today));
    }
    out
}

fn person(rng: &mut Rng, phn: Phn, today: Date) -> PatientDetails {
    let sex = match rng.below(100) {
        0..=48 => Sex::Female,
        49..=97 => Sex::Male,
        98 => Sex::X,
        _ => Sex::Unknown,
    };
    let given = match sex {
        Sex::Female => *rng.pick(GIVEN_FEMALE),
        Sex::Male => *rng.pick(GIVEN_MALE),
        _ => {
            if rng.chance(50) {
                *rng.pick(GIVEN_FEMALE)
            } else {
                *rng.pick(GIVEN_MALE)
            }
        }
    };
    let given_names = if rng.chance(30) {
        format!("{given} {}", rng.pick(GIVEN_MALE))
    } else {
        given.to_owned()
    };
    let family_name = rng.pick(FAMILY).to_string();
    // Ages 0–95, weighted towards adults as a family practice panel is.
    let age_days = (rng.below(96 * 365) + rng.below(40 * 365)) as i64 / 2 + 365;
    let date_of_birth = today - Duration::days(age_days.min(100 * 365));
    let community = rng.pick(COMMUNITIES).to_string();
    let phone = format!("250-{:03}-{:04}", 800 + rng.below(100), rng.below(10_000));
    let email = if rng.chance(60) {
        format!(
            "{}.{}{}@example.org",
            ascii_lower(given),
            ascii_lower(&family_name),
            rng.below(100)
        )
    } else {
        String::new()
    };
    // A visit after birth: newborns have been seen at most since they were born.
    let last_visit = if rng.chance(85) {
        let visit = today - Duration::days(rng.below(3 * 365) as i64);
        Some(visit.max(date_of_birth))
    } else {
        None
    };
    PatientDetails {
        phn,
        family_name,
        given_names,
        date_of_birth,
        sex,
        contact: Contact {
            phone,
            email,
            address: Address {
                street: format!("{} {}", 1 + rng.below(3_000), rng.pick(STREETS)),
                city: community.clone(),
                province: "BC".to_owned(),
                postal_code: format!(
                    "V0J {}{}{}",
                    rng.below(10),
                    char::from(b'A' + rng.below(26) as u8),
                    rng.below(10)
                ),
            },
        },
        community,
        last_visit,
    }
}

fn ascii_lower(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphabetic())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A fixed "today" for reproducible fixtures.
pub fn fixture_today() -> Date {
    Date::from_calendar_date(2026, Month::November, 1).unwrap_or(Date::MIN)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn same_seed_same_people() {
        let a = patients(7, 200, fixture_today());
        let b = patients(7, 200, fixture_today());
        assert_eq!(a, b);
        assert_ne!(a, patients(8, 200, fixture_today()));
    }

    #[test]
    fn phns_are_valid_and_distinct() {
        let people = patients(1, 25_000, fixture_today());
        let phns: HashSet<_> = people.iter().map(|p| p.phn).collect();
        assert_eq!(phns.len(), 25_000);
        for p in &people {
            assert_eq!(Phn::parse(&p.phn.to_string()), Ok(p.phn));
            assert!(p.date_of_birth < fixture_today());
            assert!(
                p.last_visit
                    .is_none_or(|v| v >= p.date_of_birth && v <= fixture_today())
            );
            assert!(!p.family_name.is_empty() && !p.given_names.is_empty());
        }
    }
}
