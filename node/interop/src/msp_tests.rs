//! The MSP panel-list reader: a real-looking file, each kind of refusal with its row and
//! column, and files written from patients read back the same.

use std::collections::BTreeSet;

use time::Date;
use time::macros::date;

use super::*;
use crate::csv::{push_cell, sex_code};
use crate::{ColumnProblem, FileError, format_date};
use attach_domain::{Phn, Sex};

const TODAY: Date = date!(2026 - 12 - 03);

fn phn(s: &str) -> Phn {
    Phn::parse(s).expect("test PHN is valid")
}

fn rows(bytes: &[u8]) -> Vec<MspPatient> {
    match parse_msp_csv(bytes, TODAY) {
        Ok(r) => r,
        Err(e) => panic!("unexpected refusal:\n{e}"),
    }
}

fn errors(bytes: &[u8]) -> ImportErrors {
    parse_msp_csv(bytes, TODAY).expect_err("the file must be refused")
}

/// (row, line, field) of every row error.
fn places(e: &ImportErrors) -> Vec<(usize, Option<usize>, &str)> {
    e.rows()
        .iter()
        .map(|r| (r.row, r.line, r.field.as_str()))
        .collect()
}

fn message<'a>(e: &'a ImportErrors, row: usize, field: &str) -> &'a str {
    e.rows()
        .iter()
        .find(|r| r.row == row && r.field == field)
        .map(|r| r.message.as_str())
        .unwrap_or_else(|| panic!("no error for row {row} {field}: {e}"))
}

fn columns(e: &ImportErrors) -> &[ColumnProblem] {
    match e.file() {
        Some(FileError::Columns(p)) => p,
        _ => panic!("expected column problems, got {e}"),
    }
}

const HEADER: &str = "phn,family_name,given_names,date_of_birth,sex\n";

#[test]
fn an_msp_file_with_extra_columns_and_its_own_names_reads() {
    let file = "\u{FEFF}Payee Number,PHN,Surname,Given Name,Birth_Date,GENDER,Practitioner Number,\
                Registration Date,Date of Death\r\n\
                12345,9123 456 780,Nguyen,Mary  Ann,1985-07-31,F,A1B2C,2020-01-01,\r\n\
                \r\n\
                12345,9234567897,\"O'Brien, Jr\",Sam,1940-03-03,m,A1B2C,2019-05-05,2026-11-30\r\n\
                12345,9345678126,Lévesque,Élise,2001-12-31,X,A1B2C,,\r\n";
    let got = rows(file.as_bytes());
    assert_eq!(
        got,
        vec![
            MspPatient {
                phn: phn("9123456780"),
                family_name: "Nguyen".into(),
                given_names: "Mary Ann".into(),
                date_of_birth: date!(1985 - 07 - 31),
                sex: Sex::Female,
                deceased: None,
            },
            MspPatient {
                phn: phn("9234567897"),
                family_name: "O'Brien, Jr".into(),
                given_names: "Sam".into(),
                date_of_birth: date!(1940 - 03 - 03),
                sex: Sex::Male,
                deceased: Some(date!(2026 - 11 - 30)),
            },
            MspPatient {
                phn: phn("9345678126"),
                family_name: "Lévesque".into(),
                given_names: "Élise".into(),
                date_of_birth: date!(2001 - 12 - 31),
                sex: Sex::X,
                deceased: None,
            },
        ]
    );
}

#[test]
fn every_accepted_name_is_documented_and_read() {
    // The module documentation's alias table is the reader's.
    let source = include_str!("msp.rs");
    let mut documented = BTreeSet::new();
    for (i, c) in MSP_COLUMNS.iter().enumerate() {
        let names: Vec<&str> = aliases()
            .into_iter()
            .filter(|(_, col)| *col == i)
            .map(|(a, _)| a)
            .collect();
        let line = format!(
            "//! | `{}` | {} |",
            c.name,
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert!(source.contains(&line), "alias table out of date: {line}");
        documented.extend(names);
    }
    for needed in [
        "surname",
        "given_name",
        "first_name",
        "birth_date",
        "dob",
        "gender",
        "date_of_death",
        "deceased",
    ] {
        assert!(documented.contains(needed), "{needed}");
    }
    // Each alias stands for its column in a file.
    for (alias, col) in aliases() {
        let mut header: Vec<&str> = MSP_COLUMNS.iter().map(|c| c.name).collect();
        header[col] = alias;
        let file = format!(
            "{}\n9123456780,Nguyen,Mai,1985-07-31,F,2020-02-02\n",
            header.join(",")
        );
        assert_eq!(rows(file.as_bytes()).len(), 1, "{alias}");
    }
}

#[test]
fn the_column_table_is_what_the_reader_accepts() {
    let header: Vec<&str> = MSP_COLUMNS.iter().map(|c| c.name).collect();
    let examples: Vec<&str> = MSP_COLUMNS.iter().map(|c| c.example).collect();
    let file = format!("{}\n\"{}\"\n", header.join(","), examples.join("\",\""));
    assert_eq!(rows(file.as_bytes()).len(), 1);
    let required: Vec<&str> = MSP_COLUMNS
        .iter()
        .filter(|c| c.required)
        .map(|c| c.name)
        .collect();
    assert_eq!(
        required,
        ["phn", "family_name", "given_names", "date_of_birth", "sex"]
    );
    let source = include_str!("msp.rs");
    for c in MSP_COLUMNS {
        let line = format!(
            "//! | `{}` | {} | {} | `{}` |",
            c.name,
            if c.required { "yes" } else { "no" },
            c.format.replace("YYYY-MM-DD", "`YYYY-MM-DD`").replace(
                "female, male, x or unknown (or F, M, X, U)",
                "`female`, `male`, `x` or `unknown` (or `F`, `M`, `X`, `U`)"
            ),
            c.example
        );
        assert!(source.contains(&line), "doc table out of date: {line}");
    }
}

#[test]
fn missing_and_twice_named_columns_are_all_listed() {
    let e = errors(b"PHN,Surname,payee_number,Family_Name,dob\n9123456780,A,1,A,1980-01-01\n");
    assert_eq!(
        columns(&e),
        &[
            ColumnProblem::Duplicate {
                name: "family_name",
                first: 2,
                second: 4
            },
            ColumnProblem::Missing("given_names"),
            ColumnProblem::Missing("sex"),
        ]
    );
    let shown = e.to_string();
    assert!(shown.contains("column \"family_name\" appears twice (columns 2 and 4)"));
    assert!(shown.contains("required column \"sex\" is missing"));

    // Two names of the optional column.
    let e = errors(b"phn,family_name,given_names,date_of_birth,sex,deceased,date_of_death\n");
    assert_eq!(
        columns(&e),
        &[ColumnProblem::Duplicate {
            name: "deceased_date",
            first: 6,
            second: 7
        }]
    );
    // A column with no name is ignored like any other (a trailing comma on the header).
    let got =
        rows(b"phn,family_name,given_names,date_of_birth,sex,\n9123456780,A,B,1980-01-01,F,x\n");
    assert_eq!(got.len(), 1);
}

#[test]
fn row_problems_name_row_line_and_the_files_column() {
    let file = "PHN,Surname,given_names,DOB,sex,deceased_date,payee\n\
                9123456789,Nguyen,Mai,1985-07-31,F,,1\n\
                9234567897,Brown,Sam,31/07/1985,M,,1\n\
                9345678126,Lee,Ann,1980-12-31,F,2027-01-01,1\n\
                \n\
                9123456780,Patel,Raj,1990-02-02,M,1989-01-01,1\n\
                9234 567 897,Brown,Sam,1970-03-03,male,,1\n\
                9456789015,,Jo,1980-01-01,woman,2026-13-01,1\n";
    let e = errors(file.as_bytes());
    assert!(e.file().is_none());
    assert_eq!(
        places(&e),
        vec![
            (1, Some(2), "PHN"),
            (2, Some(3), "DOB"),
            (3, Some(4), "deceased_date"),
            (4, Some(6), "deceased_date"),
            (5, Some(7), "PHN"),
            (6, Some(8), "PHN"),
            (6, Some(8), "Surname"),
            (6, Some(8), "sex"),
            (6, Some(8), "deceased_date"),
        ]
    );
    assert!(message(&e, 1, "PHN").contains("check digit"));
    assert!(message(&e, 2, "DOB").contains("YYYY-MM-DD"));
    assert_eq!(
        message(&e, 3, "deceased_date"),
        "the date of death is in the future"
    );
    assert_eq!(
        message(&e, 4, "deceased_date"),
        "the date of death is before the date of birth"
    );
    assert_eq!(
        message(&e, 5, "PHN"),
        "this PHN is already on row 2 (line 3); each patient may appear only once in a file"
    );
    assert_eq!(message(&e, 6, "Surname"), "the family name is missing");
    assert!(message(&e, 6, "deceased_date").starts_with("the date of death has a month"));
    for r in e.rows() {
        assert!(!r.message.contains("last visit"), "{}", r.message);
    }

    let shown = e.to_string();
    assert!(shown.starts_with("Nothing was imported: 9 problems to fix in the file."));
    for secret in [
        "9123456789",
        "9234567897",
        "9456789015",
        "Nguyen",
        "Brown",
        "31/07/1985",
        "2027-01-01",
        "woman",
    ] {
        assert!(!shown.contains(secret), "error text repeats {secret}");
        assert!(!format!("{e:?}").contains(secret), "Debug repeats {secret}");
    }
}

#[test]
fn a_second_row_for_one_phn_is_refused_even_when_written_differently() {
    let e = errors(
        format!("{HEADER}9123456780,A,B,1980-01-01,F\r\n9123-456-780,A,B,1980-01-01,F\r\n")
            .as_bytes(),
    );
    assert_eq!(places(&e), vec![(2, Some(3), "phn")]);
}

#[test]
fn lines_are_counted_right_after_crlf_and_empty_lines_in_panel_files_too() {
    // The reading loop is the panel importer's (`csv::read_rows`).
    let file = "phn,family_name,given_names,date_of_birth,sex\r\n\
                9123456780,A,B,1980-01-01,F\r\n\
                \r\n\
                \"9234567897\",\"Two\r\nLines\",B,1980-01-01,F\r\n\
                9123456780,A,B,1980-01-01,F\r\n";
    let e = errors(file.as_bytes());
    assert_eq!(places(&e), vec![(3, Some(6), "phn")]);
    let e = crate::csv::parse_panel_csv(file.as_bytes(), TODAY, &|_| None)
        .expect_err("the file must be refused");
    assert_eq!(places(&e), vec![(3, Some(6), "phn")]);
    assert_eq!(
        message(&e, 3, "phn"),
        "this PHN is already on row 1 (line 2); each patient may appear only once in a file"
    );
}

#[test]
fn file_level_problems_are_explained() {
    let e = errors(b"phn,family_name,given_names,date_of_birth,sex\nN\xE9,A,B,1980-01-01,F\n");
    assert_eq!(e, FileError::NotUtf8 { line: 2 }.into());
    for empty in [&b""[..], b"\xEF\xBB\xBF", b" \r\n\n "] {
        assert_eq!(errors(empty), FileError::Empty.into());
    }
    assert_eq!(errors(HEADER.as_bytes()), FileError::NoRows.into());
    assert_eq!(
        errors(format!("{HEADER}\r\n\r\n").as_bytes()),
        FileError::NoRows.into()
    );
    assert_eq!(
        errors(b"9123456780,Nguyen,Mai,1985-07-31,F\n"),
        FileError::NoHeader.into()
    );
    assert_eq!(
        errors(b"phn;family_name;given_names;date_of_birth;sex\n9123456780;A;B;1980-01-01;F\n"),
        FileError::WrongSeparator {
            found: "semicolons"
        }
        .into()
    );
    let e = errors(format!("{HEADER}9123456780,A,B,1980-01-01\n").as_bytes());
    assert!(
        matches!(
            e.file(),
            Some(FileError::FieldCount {
                row: 1,
                line: 2,
                expected: 5,
                found: 4,
                ..
            })
        ),
        "{e}"
    );
}

/// An MSP list as a file, the columns in `order` (indexes into [`MSP_COLUMNS`]) after a
/// column Attach ignores.
fn write(patients: &[MspPatient], order: &[usize]) -> Vec<u8> {
    let mut out = String::from("payee_number");
    for &c in order {
        out.push(',');
        out.push_str(MSP_COLUMNS[c].name);
    }
    out.push_str("\r\n");
    for p in patients {
        out.push_str("00001");
        for &c in order {
            out.push(',');
            let cell = match c {
                PHN => p.phn.to_string(),
                FAMILY_NAME => p.family_name.clone(),
                GIVEN_NAMES => p.given_names.clone(),
                DATE_OF_BIRTH => format_date(p.date_of_birth),
                SEX => sex_code(p.sex).to_string(),
                _ => p.deceased.map(format_date).unwrap_or_default(),
            };
            push_cell(&mut out, &cell);
        }
        out.push_str("\r\n");
    }
    out.into_bytes()
}

#[test]
fn files_written_from_patients_read_back_the_same() {
    let names = [
        ("Nguyen", "Mary Ann"),
        ("O'Brien, Jr", "Sam"),
        ("\"Ace\" Lévesque", "Élise Marie-Ève"),
        ("=Sum", "+Plus"),
        ("-Dash", "@At"),
        ("Ng\u{1ec7}", "李 小龍"),
        ("St. John", "Line"),
    ];
    let sexes = [Sex::Female, Sex::Male, Sex::X, Sex::Unknown];
    let patients: Vec<MspPatient> = (0..40u32)
        .filter_map(|i| Phn::from_body(10_000 + i * 7_919).map(|phn| (i, phn)))
        .map(|(i, phn)| {
            let (family, given) = names[i as usize % names.len()];
            let born = date!(1930 - 01 - 01) + time::Duration::days(i64::from(i) * 600);
            MspPatient {
                phn,
                family_name: family.into(),
                given_names: given.into(),
                date_of_birth: born,
                sex: sexes[i as usize % sexes.len()],
                deceased: (i % 3 == 0)
                    .then(|| born + time::Duration::days(20_000.min((TODAY - born).whole_days()))),
            }
        })
        .collect();
    assert!(patients.len() > 30);
    for order in [
        vec![PHN, FAMILY_NAME, GIVEN_NAMES, DATE_OF_BIRTH, SEX, DECEASED],
        vec![DECEASED, SEX, DATE_OF_BIRTH, GIVEN_NAMES, FAMILY_NAME, PHN],
        vec![GIVEN_NAMES, PHN, SEX, FAMILY_NAME, DATE_OF_BIRTH],
    ] {
        let file = write(&patients, &order);
        let mut want = patients.clone();
        if !order.contains(&DECEASED) {
            for p in &mut want {
                p.deceased = None;
            }
        }
        assert_eq!(rows(&file), want, "columns {order:?}");
    }
}

#[test]
fn a_large_list_reads_quickly() {
    let patients: Vec<MspPatient> = (0..20_000u32)
        .filter_map(|i| Phn::from_body(i * 4_999))
        .take(5_000)
        .map(|phn| MspPatient {
            phn,
            family_name: "Nguyen".into(),
            given_names: "Mary Ann".into(),
            date_of_birth: date!(1985 - 07 - 31),
            sex: Sex::Female,
            deceased: None,
        })
        .collect();
    let file = write(
        &patients,
        &[PHN, FAMILY_NAME, GIVEN_NAMES, DATE_OF_BIRTH, SEX, DECEASED],
    );
    let start = std::time::Instant::now();
    assert_eq!(rows(&file).len(), 5_000);
    assert!(start.elapsed().as_millis() < 1_000, "{:?}", start.elapsed());
}
