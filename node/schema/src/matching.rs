//! The matching documents: a person on the provincial waitlist (hub only) and an offer in a
//! clinic's inbox.
//!
//! ```text
//! waiting/<person>        ROOT: kind "waiting", schema, id, phn, family_name, given_names,
//!                               date_of_birth, sex, phone, email, street, city, province,
//!                               postal_code, community, languages (text, "; "-separated),
//!                               need, factors (text, "; "-separated keys),
//!                               registered_at, household | null, registration,
//!                               registrations (count of registrations merged into it),
//!                               declined_by: { <provider uuid>: instant },
//!                               returned_at (instant | absent: the last return from a panel)
//! inbox/<clinic>/<offer>  ROOT: kind "offer", schema, id, clinic, provider, created_at,
//!                               expires_at,
//!                               decision:  { decision, reason, note, at, by } | null  (a group)
//!                               withdrawn: { at, reason } | null                      (a group)
//!                               persons:   { <person uuid>: { phn, family_name,
//!                                   given_names, date_of_birth, sex, phone, email, street, city,
//!                                   province, postal_code, community, why,
//!                                   answer: { confirmed, at, by, note } | null (a group) } }
//! ```
//!
//! The provider's decision, a person's answer and a withdrawal are groups, so concurrent
//! decisions on two replicas resolve to one whole decision on every replica (Automerge's own
//! deterministic choice), and the other stays visible as a conflict.

use automerge::transaction::Transactable;
use automerge::{ObjId, ROOT, ReadDoc, ScalarValue};

use super::common::{
    Fields, NewDoc, SchemaError, count, ensure_map, id_value, instant, is_new_doc,
    put_group_if_changed, put_header, put_if_changed, put_opt_if_changed, text,
};
use super::panel::{detail_fields, read_details};
use attach_domain::matching::{
    Answer, Decision, DeclineReason, Offer, OfferedPerson, PriorityFactor, ProviderDecision,
    ProviderNeed, Registration, WaitingPerson, Withdrawal,
};
use attach_domain::{PersonId, UserId};

/// `kind` of a `waiting/<person>` document.
pub const KIND_WAITING: &str = "waiting";
/// `kind` of an `inbox/<clinic>/<offer>` document.
pub const KIND_OFFER: &str = "offer";

fn need_name(n: ProviderNeed) -> &'static str {
    match n {
        ProviderNeed::Physician => "physician",
        ProviderNeed::PhysicianOrNp => "physician_or_np",
    }
}

fn parse_need(s: &str) -> Option<ProviderNeed> {
    [ProviderNeed::Physician, ProviderNeed::PhysicianOrNp]
        .into_iter()
        .find(|n| need_name(*n) == s)
}

fn registration_name(r: Registration) -> &'static str {
    match r {
        Registration::Waiting => "waiting",
        Registration::Withdrawn => "withdrawn",
    }
}

fn parse_registration(s: &str) -> Option<Registration> {
    [Registration::Waiting, Registration::Withdrawn]
        .into_iter()
        .find(|r| registration_name(*r) == s)
}

fn join<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items.into_iter().collect::<Vec<_>>().join("; ")
}

fn split(s: &str) -> impl Iterator<Item = &str> {
    s.split(';').map(str::trim).filter(|x| !x.is_empty())
}

/// Reads a waiting person and how many registrations were merged into the document.
pub fn read_waiting(doc: &impl ReadDoc) -> Result<(WaitingPerson, u32), SchemaError> {
    let f = Fields::root(doc, KIND_WAITING)?;
    let factors = f
        .str("factors")?
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|k| {
            PriorityFactor::from_key(k)
                .ok_or_else(|| f.malformed("factors", "known priority factors"))
        })
        .collect::<Result<_, _>>()?;
    let declined = f.map("declined_by")?;
    let declined_by = declined
        .keys()
        .into_iter()
        .map(|k| {
            k.parse::<UserId>()
                .map_err(|_| declined.malformed(&k, "a provider id"))
        })
        .collect::<Result<_, _>>()?;
    let person = WaitingPerson {
        id: f.id("id")?,
        details: read_details(&f)?,
        languages: split(&f.str("languages")?).map(str::to_owned).collect(),
        need: f.parsed("need", "physician or physician_or_np", parse_need)?,
        factors,
        registered_at: f.instant("registered_at")?,
        household: f.opt_str("household")?,
        registration: f.parsed("registration", "waiting or withdrawn", parse_registration)?,
        declined_by,
        returned_at: f.opt_instant("returned_at")?,
    };
    Ok((person, f.opt_count("registrations")?.unwrap_or(1)))
}

/// Writes every field of the waiting person that differs from the document, and the count
/// of merged registrations. A provider in `declined_by` is added, never removed.
pub fn write_waiting<T: Transactable>(
    tx: &mut T,
    p: &WaitingPerson,
    registrations: u32,
) -> Result<(), SchemaError> {
    let fields = [
        ("id", id_value(p.id.0)),
        (
            "languages",
            text(&join(p.languages.iter().map(String::as_str))),
        ),
        ("need", text(need_name(p.need))),
        ("factors", text(&join(p.factors.iter().map(|f| f.key())))),
        ("registered_at", instant(p.registered_at)),
        ("registration", text(registration_name(p.registration))),
        ("registrations", count(registrations)),
    ];
    let household = p.household.as_deref().map(text);
    let returned_at = p.returned_at.map(instant);
    let declined_by = p.declined_by.iter().map(ToString::to_string);
    if is_new_doc(tx) {
        // A province's waitlist import is hundreds of thousands of new documents.
        let mut doc = NewDoc::root(KIND_WAITING);
        doc.fields(fields.into_iter().chain(detail_fields(&p.details)));
        doc.opt("household", household);
        doc.opt("returned_at", returned_at);
        let mut declined = NewDoc::default();
        for provider in declined_by {
            declined.fields([(provider.as_str(), ScalarValue::Boolean(true))]);
        }
        doc.map("declined_by", declined);
        doc.write(tx)?;
        return Ok(());
    }
    put_header(tx, KIND_WAITING)?;
    for (k, v) in fields.into_iter().chain(detail_fields(&p.details)) {
        put_if_changed(tx, &ROOT, k, v)?;
    }
    put_opt_if_changed(tx, &ROOT, "household", household)?;
    if let Some(at) = returned_at {
        put_if_changed(tx, &ROOT, "returned_at", at)?;
    }
    let declined = ensure_map(tx, &ROOT, "declined_by", KIND_WAITING)?;
    for provider in declined_by {
        if tx.get(&declined, &provider)?.is_none() {
            tx.put(&declined, provider, ScalarValue::Boolean(true))?;
        }
    }
    Ok(())
}

fn decision_group(d: &ProviderDecision) -> Vec<(&'static str, ScalarValue)> {
    let (word, reason, note) = match &d.decision {
        Decision::Accept => ("accept", "", ""),
        Decision::Decline { reason, note } => ("decline", reason.key(), note.as_str()),
    };
    vec![
        ("decision", text(word)),
        ("reason", text(reason)),
        ("note", text(note)),
        ("at", instant(d.at)),
        ("by", id_value(d.by.0)),
    ]
}

fn answer_group(a: &Answer) -> Vec<(&'static str, ScalarValue)> {
    vec![
        ("confirmed", ScalarValue::Boolean(a.confirmed)),
        ("at", instant(a.at)),
        ("by", id_value(a.by.0)),
        ("note", text(&a.note)),
    ]
}

/// Reads an offer.
pub fn read_offer(doc: &impl ReadDoc) -> Result<Offer, SchemaError> {
    let f = Fields::root(doc, KIND_OFFER)?;
    let decision = match f.opt_map("decision")? {
        None => None,
        Some(g) => {
            let decision = match g.str("decision")?.as_str() {
                "accept" => Decision::Accept,
                "decline" => Decision::Decline {
                    reason: g.parsed(
                        "reason",
                        "a known decline reason",
                        DeclineReason::from_key,
                    )?,
                    note: g.str("note")?,
                },
                _ => return Err(g.malformed("decision", "accept or decline")),
            };
            Some(ProviderDecision {
                decision,
                at: g.instant("at")?,
                by: g.id("by")?,
            })
        }
    };
    let withdrawn = match f.opt_map("withdrawn")? {
        None => None,
        Some(g) => Some(Withdrawal {
            at: g.instant("at")?,
            reason: g.str("reason")?,
        }),
    };
    let persons_map = f.map("persons")?;
    let mut persons = Vec::new();
    for key in persons_map.keys() {
        let person: PersonId = key
            .parse()
            .map_err(|_| persons_map.malformed(&key, "a person id"))?;
        let g = persons_map.map(&key)?;
        let answer = match g.opt_map("answer")? {
            None => None,
            Some(a) => Some(Answer {
                confirmed: a.bool("confirmed")?,
                at: a.instant("at")?,
                by: a.id("by")?,
                note: a.str("note")?,
            }),
        };
        persons.push(OfferedPerson {
            person,
            details: read_details(&g)?,
            why: g.str("why")?,
            answer,
        });
    }
    // Map keys come back in key order; keep the offer's order stable by person id.
    persons.sort_by_key(|p| p.person);
    Ok(Offer {
        id: f.id("id")?,
        clinic: f.id("clinic")?,
        provider: f.id("provider")?,
        persons,
        created_at: f.instant("created_at")?,
        expires_at: f.instant("expires_at")?,
        decision,
        withdrawn,
    })
}

fn person_obj<T: Transactable>(tx: &mut T, person: PersonId) -> Result<ObjId, SchemaError> {
    let persons = ensure_map(tx, &ROOT, "persons", KIND_OFFER)?;
    ensure_map(tx, &persons, &person.to_string(), KIND_OFFER)
}

/// Writes every field of the offer that differs from the document (the whole offer for a
/// new one): the hub writes it when it makes the offer.
pub fn write_offer<T: Transactable>(tx: &mut T, o: &Offer) -> Result<(), SchemaError> {
    let fields = [
        ("id", id_value(o.id.0)),
        ("clinic", id_value(o.clinic.0)),
        ("provider", id_value(o.provider.0)),
        ("created_at", instant(o.created_at)),
        ("expires_at", instant(o.expires_at)),
    ];
    let person_fields = |p: &OfferedPerson| {
        detail_fields(&p.details)
            .into_iter()
            .chain([("why", text(&p.why))])
    };
    if is_new_doc(tx) {
        // A matching round at the hub makes tens of thousands of offers at once.
        let mut doc = NewDoc::root(KIND_OFFER);
        doc.fields(fields);
        doc.group("decision", o.decision.as_ref().map(decision_group));
        doc.group("withdrawn", o.withdrawn.as_ref().map(withdrawal_group));
        let mut persons = NewDoc::default();
        for p in &o.persons {
            let mut person = NewDoc::default();
            person.fields(person_fields(p));
            person.group("answer", p.answer.as_ref().map(answer_group));
            persons.map(&p.person.to_string(), person);
        }
        doc.map("persons", persons);
        doc.write(tx)?;
        return Ok(());
    }
    put_header(tx, KIND_OFFER)?;
    for (k, v) in fields {
        put_if_changed(tx, &ROOT, k, v)?;
    }
    write_decision(tx, o.decision.as_ref())?;
    write_withdrawal(tx, o.withdrawn.as_ref())?;
    for p in &o.persons {
        let obj = person_obj(tx, p.person)?;
        for (k, v) in person_fields(p) {
            put_if_changed(tx, &obj, k, v)?;
        }
        put_group_if_changed(tx, &obj, "answer", p.answer.as_ref().map(answer_group))?;
    }
    Ok(())
}

/// Records (or clears) the provider's decision.
pub fn write_decision<T: Transactable>(
    tx: &mut T,
    d: Option<&ProviderDecision>,
) -> Result<(), SchemaError> {
    put_group_if_changed(tx, &ROOT, "decision", d.map(decision_group))?;
    Ok(())
}

/// Records (or clears) one person's answer.
pub fn write_answer<T: Transactable>(
    tx: &mut T,
    person: PersonId,
    a: Option<&Answer>,
) -> Result<(), SchemaError> {
    let obj = person_obj(tx, person)?;
    put_group_if_changed(tx, &obj, "answer", a.map(answer_group))?;
    Ok(())
}

/// Records (or clears) the hub's withdrawal.
pub fn write_withdrawal<T: Transactable>(
    tx: &mut T,
    w: Option<&Withdrawal>,
) -> Result<(), SchemaError> {
    put_group_if_changed(tx, &ROOT, "withdrawn", w.map(withdrawal_group))?;
    Ok(())
}

fn withdrawal_group(w: &Withdrawal) -> Vec<(&'static str, ScalarValue)> {
    vec![("at", instant(w.at)), ("reason", text(&w.reason))]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use automerge::{AutoCommit, ROOT};
    use time::macros::{date, datetime};

    use super::*;
    use crate::common::map_conflicts;
    use attach_domain::matching::PersonOutcome;
    use attach_domain::{Address, Contact, PatientDetails, Phn};
    use attach_domain::{ClinicId, OfferId};

    fn waiting() -> WaitingPerson {
        WaitingPerson {
            id: PersonId::new(),
            details: PatientDetails {
                phn: Phn::from_body(1_234_567).expect("phn"),
                family_name: "Okafor".into(),
                given_names: "Ada".into(),
                date_of_birth: date!(1990 - 05 - 17),
                sex: attach_domain::Sex::Female,
                contact: Contact {
                    phone: "250-555-0101".into(),
                    email: "ada@example.org".into(),
                    address: Address {
                        street: "1 Main St".into(),
                        city: "Smithers".into(),
                        province: "BC".into(),
                        postal_code: "V0J 2N0".into(),
                    },
                },
                community: "Smithers".into(),
                last_visit: None,
            },
            languages: ["English".to_owned(), "Igbo".to_owned()].into(),
            need: ProviderNeed::PhysicianOrNp,
            factors: [PriorityFactor::Pregnancy, PriorityFactor::NoPriorProvider].into(),
            registered_at: datetime!(2026-03-01 17:00 UTC),
            household: Some("okafor-1".into()),
            registration: Registration::Waiting,
            declined_by: BTreeSet::from([UserId::new()]),
            returned_at: None,
        }
    }

    fn offer_of(p: &WaitingPerson) -> Offer {
        Offer {
            id: OfferId::new(),
            clinic: ClinicId::new(),
            provider: UserId::new(),
            persons: vec![OfferedPerson {
                person: p.id,
                details: p.details.clone(),
                why: "Tier 1: urgent clinical need (pregnancy)".into(),
                answer: None,
            }],
            created_at: datetime!(2026-11-02 17:00 UTC),
            expires_at: datetime!(2026-11-16 17:00 UTC),
            decision: None,
            withdrawn: None,
        }
    }

    #[test]
    fn a_waiting_person_round_trips_and_a_rewrite_makes_no_change() {
        let p = waiting();
        let mut doc = AutoCommit::new();
        write_waiting(&mut doc, &p, 2).expect("writes");
        doc.commit();
        let (read, n) = read_waiting(&doc).expect("reads");
        assert_eq!((read, n), (p.clone(), 2));
        let heads = doc.get_heads();
        write_waiting(&mut doc, &p, 2).expect("rewrites");
        doc.commit();
        assert_eq!(doc.get_heads(), heads, "the same person wrote nothing");
    }

    #[test]
    fn an_offer_round_trips_with_its_decisions() {
        let p = waiting();
        let mut o = offer_of(&p);
        let mut doc = AutoCommit::new();
        write_offer(&mut doc, &o).expect("writes");
        assert_eq!(read_offer(&doc).expect("reads"), o);
        let d = ProviderDecision {
            decision: Decision::Decline {
                reason: DeclineReason::OutsideScope,
                note: "needs obstetrics".into(),
            },
            at: datetime!(2026-11-03 17:00 UTC),
            by: UserId::new(),
        };
        write_decision(&mut doc, Some(&d)).expect("decides");
        let a = Answer {
            confirmed: true,
            at: datetime!(2026-11-04 17:00 UTC),
            by: UserId::new(),
            note: String::new(),
        };
        write_answer(&mut doc, p.id, Some(&a)).expect("answers");
        let w = Withdrawal {
            at: datetime!(2026-11-05 17:00 UTC),
            reason: "the provider stopped taking patients".into(),
        };
        write_withdrawal(&mut doc, Some(&w)).expect("withdraws");
        o.decision = Some(d);
        o.persons[0].answer = Some(a);
        o.withdrawn = Some(w);
        assert_eq!(read_offer(&doc).expect("reads"), o);
    }

    /// Two replicas decide the same offer apart: both read one and the same whole decision,
    /// and the clash is there to review.
    #[test]
    fn decisions_made_apart_resolve_alike_and_stay_visible() {
        let p = waiting();
        let o = offer_of(&p);
        let mut base = AutoCommit::new();
        write_offer(&mut base, &o).expect("writes");
        base.commit();
        let mut a = base.fork();
        let mut b = base.fork();
        let accept = ProviderDecision {
            decision: Decision::Accept,
            at: datetime!(2026-11-03 17:00 UTC),
            by: UserId::new(),
        };
        let decline = ProviderDecision {
            decision: Decision::Decline {
                reason: DeclineReason::PanelFull,
                note: String::new(),
            },
            at: datetime!(2026-11-03 18:00 UTC),
            by: UserId::new(),
        };
        write_decision(&mut a, Some(&accept)).expect("a");
        write_decision(&mut b, Some(&decline)).expect("b");
        a.merge(&mut b.clone()).expect("merge a");
        b.merge(&mut a.clone()).expect("merge b");
        let (ra, rb) = (read_offer(&a).expect("a"), read_offer(&b).expect("b"));
        assert_eq!(ra, rb);
        let now = datetime!(2026-11-04 17:00 UTC);
        assert_eq!(
            ra.persons[0].outcome(&ra, now),
            rb.persons[0].outcome(&rb, now)
        );
        assert_ne!(ra.persons[0].outcome(&ra, now), PersonOutcome::Expired);
        let conflicts = map_conflicts(a.document(), &ROOT).expect("conflicts");
        assert!(
            conflicts.iter().any(|c| c.field == "decision"),
            "{conflicts:?}"
        );
    }

    /// New waiting and offer documents are written in one batch; the batch must make the
    /// document the field-by-field writers make, with and without every optional part.
    #[test]
    fn new_documents_written_in_one_batch_match_field_by_field_writes() {
        use crate::common::assert_batch_write_matches_puts;
        let full = waiting();
        let mut bare = waiting();
        bare.household = None;
        bare.declined_by.clear();
        bare.returned_at = None;
        let mut returned = waiting();
        returned.returned_at = Some(datetime!(2026-10-01 17:00 UTC));
        for p in [&full, &bare, &returned] {
            assert_batch_write_matches_puts(KIND_WAITING, |doc| {
                write_waiting(doc, p, 3).expect("writes");
            });
            let mut doc = AutoCommit::new();
            write_waiting(&mut doc, p, 3).expect("writes");
            assert_eq!(read_waiting(&doc).expect("reads"), (p.clone(), 3));
        }
        let plain = offer_of(&full);
        let mut decided = offer_of(&full);
        decided.decision = Some(ProviderDecision {
            decision: Decision::Decline {
                reason: DeclineReason::PanelFull,
                note: "full until spring".into(),
            },
            at: datetime!(2026-11-03 17:00 UTC),
            by: UserId::new(),
        });
        decided.withdrawn = Some(Withdrawal {
            at: datetime!(2026-11-05 17:00 UTC),
            reason: "the provider stopped taking patients".into(),
        });
        let mut household = offer_of(&full);
        let mut second = offer_of(&bare);
        second.persons[0].person = PersonId::new();
        second.persons[0].answer = Some(Answer {
            confirmed: false,
            at: datetime!(2026-11-04 17:00 UTC),
            by: UserId::new(),
            note: "moving away".into(),
        });
        household.persons.push(second.persons.remove(0));
        household.persons.sort_by_key(|p| p.person);
        for o in [&plain, &decided, &household] {
            assert_batch_write_matches_puts(KIND_OFFER, |doc| {
                write_offer(doc, o).expect("writes");
            });
            let mut doc = AutoCommit::new();
            write_offer(&mut doc, o).expect("writes");
            assert_eq!(&read_offer(&doc).expect("reads"), o);
        }
    }

    #[test]
    fn a_malformed_offer_is_refused_with_the_field_named() {
        let p = waiting();
        let mut doc = AutoCommit::new();
        write_offer(&mut doc, &offer_of(&p)).expect("writes");
        doc.put(ROOT, "expires_at", "soon").expect("damages");
        let e = read_offer(&doc).expect_err("refused");
        assert!(e.to_string().contains("expires_at"), "{e}");
    }
}
