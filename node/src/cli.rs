//! The command line: `attach <command>`. Parsing only; `main.rs` dispatches.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "attach",
    version,
    about = "Attach: offline-first patient attachment for family-practice clinics",
    long_about = "Attach keeps a clinic's registries (clinic, members, delegations, patient \
                  panels) on a small PC on the clinic LAN, works with no internet, and serves \
                  its JSON API on the clinic LAN.\n\n\
                  Configuration: a TOML file (--config or ATTACH_CONFIG), then ATTACH_* \
                  environment variables, then flags. See packaging/attach.example.toml."
)]
pub struct Cli {
    /// Configuration file (TOML).
    #[arg(long, global = true, env = "ATTACH_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a node on a demo data directory with a realistic synthetic clinic, and print
    /// the URL and demo logins. Re-running reopens the same data.
    Demo(DemoArgs),
    /// Run the clinic node: the web UI and JSON API for the clinic LAN, and sync with the
    /// hub and LAN peers once enrolled. `attach node enrol` enrols it with the hub.
    Node(NodeArgs),
    /// Run the provincial hub, or manage it (`attach hub enrol-clinic`, `revoke-clinic`,
    /// `clinics`, `status`) while it runs.
    Hub(HubArgs),
    /// Create a clinic and its director offline, and print the director's temporary password.
    Init(InitArgs),
    /// Import data from files.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Export data to files.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Manage user accounts offline.
    #[command(subcommand)]
    User(UserCommand),
    /// Change a provider's panel offline (the node must be stopped).
    #[command(subcommand)]
    Panel(PanelCommand),
    /// Look at a data directory offline (the node or hub must be stopped).
    #[command(subcommand)]
    Inspect(InspectCommand),
    /// Write a consistent, compressed, checksummed backup of a node's or hub's data. A
    /// running node or hub makes it itself, without stopping (run this as root or as the
    /// service's user, who can read the admin token); a stopped one is read directly.
    Backup(BackupArgs),
    /// Restore a backup into an empty (or new) data directory, then print each clinic's
    /// digest (compare it with `attach inspect digest` on the original).
    Restore(RestoreArgs),
    /// Is the node or hub running; data size; last sync and changes waiting to go up;
    /// certificate expiry.
    Status(StatusArgs),
    /// Write the manual pages (attach.1 and one per command) into a directory; the Debian
    /// package is built with them.
    #[command(hide = true)]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the pages into.
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// Write the backup to this file (replaced only once the new backup is complete).
    #[arg(long, conflicts_with = "into", required_unless_present = "into")]
    pub out: Option<PathBuf>,
    /// Write the backup into this directory as attach-<role>-<UTC time>.attach-backup.
    #[arg(long)]
    pub into: Option<PathBuf>,
    /// With --into: keep this many backups of this role there and delete older ones.
    #[arg(long)]
    pub keep: Option<usize>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file.
    pub file: PathBuf,
    /// The data directory to restore into; it must be empty or not exist.
    #[arg(long, env = "ATTACH_DATA_DIR")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub data: DataDirArg,
}

#[derive(Debug, Subcommand)]
pub enum InspectCommand {
    /// Print, per clinic, how many documents it has and a digest of their heads: replicas
    /// that print the same digest hold the same merged state.
    Digest(DigestArgs),
}

#[derive(Debug, Args)]
pub struct DigestArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// Only this clinic (default: every clinic in the data directory).
    #[arg(long)]
    pub clinic: Option<uuid::Uuid>,
}

#[derive(Debug, Args, Default)]
pub struct DataDirArg {
    /// Data directory (default from config; `attach demo` uses its own).
    #[arg(long, env = "ATTACH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// Address to listen on, e.g. 0.0.0.0:8080.
    #[arg(long, env = "ATTACH_LISTEN")]
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct NodeArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(subcommand)]
    pub action: Option<NodeAction>,
}

#[derive(Debug, Subcommand)]
pub enum NodeAction {
    /// Enrol this node with the provincial hub using a one-time code from the hub
    /// administrator (run it while the node is stopped, or use the node's Sync page).
    Enrol(EnrolArgs),
}

#[derive(Debug, Args)]
pub struct EnrolArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// The hub's sync address, host:port (e.g. hub.health.example:7443).
    #[arg(long)]
    pub hub: String,
    /// The one-time enrolment code.
    #[arg(long)]
    pub code: String,
}

#[derive(Debug, Args)]
pub struct HubArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// Address of the hub's admin API (loopback), e.g. 127.0.0.1:8080.
    #[arg(long, env = "ATTACH_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Address clinic nodes connect to, e.g. 0.0.0.0:7443.
    #[arg(long, env = "ATTACH_SYNC_LISTEN")]
    pub sync_listen: Option<SocketAddr>,
    /// Address of the coordinators' web pages, e.g. 127.0.0.1:8091 behind a TLS proxy.
    #[arg(long, env = "ATTACH_HUB_WEB_LISTEN")]
    pub web_listen: Option<SocketAddr>,
    #[command(subcommand)]
    pub action: Option<HubAction>,
}

#[derive(Debug, Subcommand)]
pub enum HubAction {
    /// Create a one-time enrolment code for a clinic's node. Give --facility for a new
    /// clinic, or --clinic for a clinic already enrolled (a replacement or standby node).
    EnrolClinic(EnrolClinicArgs),
    /// Refuse a clinic's nodes from now on (open sessions are closed at once).
    RevokeClinic(RevokeClinicArgs),
    /// List enrolled clinics and their nodes.
    Clinics(HubAdminArgs),
    /// Show documents, feed position and connected nodes.
    Status(HubAdminArgs),
    /// Register the people in a CSV file on the provincial waitlist (a PHN already waiting
    /// is merged, never counted twice). All rows valid, or nothing is registered.
    ImportWaitlist(ImportWaitlistArgs),
    /// Run a matching round now: offer waiting people to providers with capacity.
    Match(HubAdminArgs),
    /// Write the attachment records of a period for billing (PHN, practitioner number,
    /// date, fee code 98990) as CSV, for every clinic or one. Providers without a
    /// practitioner number are named on standard error.
    Attachments(HubAttachmentsArgs),
    /// The provincial view: people waiting by community and tier, waits, offers and their
    /// outcomes, capacity against demand. As text, or the same tables as CSV with --csv.
    Report(ReportArgs),
    /// One clinic measure (a shipped registry's prevalence, or a care-gap rule's share up
    /// to date and in target) by clinic, community, health authority and the province,
    /// from the counts clinics send; counts under 5 patients are suppressed.
    Measures(MeasuresArgs),
    /// Create a provincial coordinator's login for the hub's web pages; prints a one-time
    /// temporary password, to be changed at the first sign-in.
    AddCoordinator(AddCoordinatorArgs),
    /// List the coordinators who can sign in to the hub's web pages.
    Coordinators(HubAdminArgs),
}

/// A period of local dates in the province, both days included.
#[derive(Debug, Args)]
pub struct PeriodArgs {
    /// First day, YYYY-MM-DD.
    #[arg(long)]
    pub from: String,
    /// Last day, YYYY-MM-DD (included).
    #[arg(long)]
    pub to: String,
    /// Output file; standard output when omitted.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MeasuresArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// The measure: `registry:<key>` or `gap:<key>` (the first registry when omitted).
    #[arg(long, default_value = "")]
    pub measure: String,
    /// The month, YYYY-MM (the current month when omitted).
    #[arg(long, default_value = "")]
    pub month: String,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// Write the tables as CSV (to standard output, or --out).
    #[arg(long)]
    pub csv: bool,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HubAttachmentsArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    #[command(flatten)]
    pub period: PeriodArgs,
    /// Only this clinic (default: every clinic).
    #[arg(long)]
    pub clinic: Option<uuid::Uuid>,
}

#[derive(Debug, Args)]
pub struct AddCoordinatorArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// Their username (3–64 letters, digits, '.', '-', '_'), unique at the hub.
    #[arg(long)]
    pub username: String,
    /// Their name as pages show it.
    #[arg(long)]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct ImportWaitlistArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// The CSV file: a header row, then one person per row. Columns: phn, family_name,
    /// given_names, date_of_birth, sex, phone, email, street, city, province, postal_code,
    /// community (required); languages, need (physician | any), factors (e.g.
    /// "pregnancy; complex_care"), registered_on (YYYY-MM-DD), household (optional).
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct HubAdminArgs {
    #[command(flatten)]
    pub data: DataDirArg,
}

#[derive(Debug, Args)]
pub struct EnrolClinicArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// An enrolled clinic's id.
    #[arg(
        long,
        conflicts_with = "facility",
        required_unless_present = "facility"
    )]
    pub clinic: Option<uuid::Uuid>,
    /// A new clinic's facility number.
    #[arg(long)]
    pub facility: Option<String>,
    /// Hours until the code expires.
    #[arg(long, default_value_t = 72)]
    pub valid_hours: u32,
}

#[derive(Debug, Args)]
pub struct RevokeClinicArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// The clinic's id.
    pub clinic: uuid::Uuid,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// How many patients the demo clinic has (spread over its four providers).
    #[arg(long, default_value_t = 5_000)]
    pub patients: usize,
    /// Seed the data directory and exit without serving (used by tests and benchmarks).
    #[arg(long)]
    pub seed_only: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// The clinic's name as patients know it.
    #[arg(long)]
    pub clinic_name: String,
    /// The facility number issued by the health authority.
    #[arg(long)]
    pub facility_number: String,
    /// Login name for the clinic's director (the primary account manager).
    #[arg(long)]
    pub director_username: String,
    /// The director's full name.
    #[arg(long)]
    pub director_name: String,
    /// The director's email address.
    #[arg(long, default_value = "")]
    pub director_email: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    Csv,
    Fhir,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Add patients to a provider's panel from a CSV or FHIR file (all or nothing).
    Panel(ImportPanelArgs),
    /// Bring in clinical records (conditions, results, procedures, immunizations,
    /// medications) an EMR exported, linked to patients by PHN. Importing the same export
    /// again changes nothing; any bad row stores nothing.
    Clinical(ImportClinicalArgs),
}

#[derive(Debug, Args)]
pub struct ImportClinicalArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// The username the import is recorded under: an account manager, a provider, or
    /// staff a provider has endorsed.
    #[arg(long = "as")]
    pub as_user: String,
    /// The clinic's id (needed when the user is a member of several clinics).
    #[arg(long)]
    pub clinic: Option<String>,
    /// File format; guessed from the names when omitted (.json, .ndjson, .csv).
    #[arg(long, value_enum)]
    pub format: Option<ClinicalFileFormat>,
    /// The files: one FHIR Bundle or CSV file, or the NDJSON files of a FHIR Bulk Data
    /// export (Patient.ndjson, Condition.ndjson, Observation.ndjson, …) or their directory.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClinicalFileFormat {
    /// A FHIR R4 Bundle (JSON).
    Fhir,
    /// FHIR Bulk Data NDJSON, one file per resource type.
    Ndjson,
    /// Attach's clinical CSV columns.
    Csv,
}

/// Which provider's panel an offline command changes, and who changes it.
#[derive(Debug, Args)]
pub struct PanelArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// The provider's username.
    #[arg(long)]
    pub provider: String,
    /// The username the change is recorded under: the provider or an endorsed delegate
    /// (and, to move patients, an account manager).
    #[arg(long = "as")]
    pub as_user: String,
    /// The clinic's id (needed when the provider works at more than one clinic).
    #[arg(long)]
    pub clinic: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImportPanelArgs {
    #[command(flatten)]
    pub panel: PanelArgs,
    /// File format; guessed from the file name when omitted (.csv or .json).
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,
    /// The file to import.
    pub file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Write a provider's panel as CSV or a FHIR R4 Bundle.
    Panel(ExportPanelArgs),
    /// Write the clinic's attachment records of a period for billing (PHN, practitioner
    /// number, date, fee code 98990) as CSV. Providers without a practitioner number are
    /// named on standard error.
    Attachments(ExportAttachmentsArgs),
}

#[derive(Debug, Args)]
pub struct ExportAttachmentsArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    #[command(flatten)]
    pub period: PeriodArgs,
    /// The clinic's id (needed when the data directory holds more than one clinic).
    #[arg(long)]
    pub clinic: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportPanelArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// The provider's username.
    #[arg(long)]
    pub provider: String,
    /// The clinic's id (needed when the provider works at more than one clinic).
    #[arg(long)]
    pub clinic: Option<String>,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: FileFormat,
    /// Output file; standard output when omitted.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum PanelCommand {
    /// Set a provider's panel preferences; what is not given stays as it is. Prints them.
    Preferences(PreferencesArgs),
    /// Move patients off a provider's panel (a provider who leaves or stops): to a
    /// colleague's panel at the same clinic, or back to the provincial waitlist. All of
    /// them move, or none do.
    Move(MoveArgs),
    /// Panel review: without a list, print how many patients each worklist holds; with
    /// --worklist and/or --filter, write that list as CSV.
    Review(ReviewArgs),
    /// Change every patient on a review list at once (all or nothing, one change each).
    Bulk(BulkArgs),
    /// Compare the panel with the panel list MSP holds (a CSV file); prints what differs.
    /// Nothing on the panel changes: decide each line on the MSP reconciliation page.
    Msp(MspArgs),
    /// The panel profile: patients by age and sex, month-end counts by status, and how many
    /// patients the provider's appointments cover (supply and demand).
    Profile(ProfileArgs),
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    #[command(flatten)]
    pub panel: PanelArgs,
    /// First state the appointments the provider offers a week (recorded under --as).
    #[arg(long)]
    pub appointments_per_week: Option<u32>,
    /// With --appointments-per-week: weeks of clinic a year (default 46).
    #[arg(long)]
    pub weeks_per_year: Option<u32>,
}

/// Which review list: a worklist and/or filters in the review page's words.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// suggested-status, mrp-unconfirmed, mrp-one-side, mrp-stale, no-visit,
    /// not-seen-since, contact or two-panels.
    #[arg(long)]
    pub worklist: Option<String>,
    /// A filter as on the review page's address, e.g. min_age=65 or status=inactive
    /// (repeat to combine; months=… and date=… set a worklist's parameter).
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    pub filters: Vec<String>,
}

impl ListArgs {
    /// The list's query pairs, or the filter that is not KEY=VALUE.
    pub fn pairs(&self) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        if let Some(w) = &self.worklist {
            out.push(("worklist".to_owned(), w.clone()));
        }
        for f in &self.filters {
            let (k, v) = f
                .split_once('=')
                .ok_or_else(|| format!("--filter {f:?} is not KEY=VALUE"))?;
            out.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        Ok(out)
    }
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    #[command(flatten)]
    pub panel: PanelArgs,
    #[command(flatten)]
    pub list: ListArgs,
    /// Output file for the list; standard output when omitted.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BulkChange {
    AcceptSuggestions,
    DismissSuggestions,
    SetStatus,
    ConfirmMrpProvider,
    ConfirmMrpPatient,
    VerifyContact,
}

#[derive(Debug, Args)]
pub struct BulkArgs {
    #[command(flatten)]
    pub panel: PanelArgs,
    #[command(flatten)]
    pub list: ListArgs,
    #[arg(long, value_enum)]
    pub change: BulkChange,
    /// For set-status: active, inactive or a status the clinic defined.
    #[arg(long)]
    pub status: Option<String>,
    /// For confirm-mrp-*: in_person, phone, portal or letter.
    #[arg(long)]
    pub how: Option<String>,
}

#[derive(Debug, Args)]
pub struct MspArgs {
    #[command(flatten)]
    pub panel: PanelArgs,
    /// MSP's panel list (CSV).
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct MoveArgs {
    #[command(flatten)]
    pub panel: PanelArgs,
    /// The username of the colleague whose panel receives them.
    #[arg(
        long,
        conflicts_with = "to_waitlist",
        required_unless_present = "to_waitlist"
    )]
    pub to: Option<String>,
    /// Return them to the provincial waitlist instead; the hub registers them again at its
    /// next round, keeping their place.
    #[arg(long)]
    pub to_waitlist: bool,
    /// A patient entry's id to move (repeat for several); everyone on the panel when none
    /// is given.
    #[arg(long = "entry")]
    pub entries: Vec<String>,
    /// Why they move, kept in each patient's panel history.
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct PreferencesArgs {
    #[command(flatten)]
    pub panel: PanelArgs,
    /// Accepting new patients: yes or no.
    #[arg(long)]
    pub accepting: Option<YesNo>,
    #[arg(long)]
    pub monthly_capacity: Option<u32>,
    #[arg(long)]
    pub desired_panel_size: Option<u32>,
    #[arg(long)]
    pub max_open_requests: Option<u32>,
    /// Languages the provider sees patients in, separated by ";" (include English).
    #[arg(long)]
    pub languages: Option<String>,
    /// The MSP practitioner number (5 letters or digits); "" clears it.
    #[arg(long)]
    pub practitioner_number: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum YesNo {
    Yes,
    No,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Give a user a new temporary password (valid 48 hours) and print it.
    ResetPassword(ResetPasswordArgs),
}

#[derive(Debug, Args)]
pub struct ResetPasswordArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// The user's login name.
    pub username: String,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn import_panel_parses() {
        let cli = Cli::try_parse_from([
            "attach",
            "import",
            "panel",
            "--provider",
            "drlee",
            "--as",
            "drlee",
            "p.csv",
        ])
        .expect("parses");
        match cli.command {
            Command::Import(ImportCommand::Panel(args)) => {
                assert_eq!(args.panel.provider, "drlee");
                assert_eq!(args.file, PathBuf::from("p.csv"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn attachments_need_a_period() {
        assert!(
            Cli::try_parse_from(["attach", "hub", "attachments", "--from", "2026-11-01"]).is_err()
        );
        let cli = Cli::try_parse_from([
            "attach",
            "hub",
            "attachments",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
        ])
        .expect("parses");
        match cli.command {
            Command::Hub(HubArgs {
                action: Some(HubAction::Attachments(a)),
                ..
            }) => assert_eq!((a.period.from.as_str(), a.clinic), ("2026-11-01", None)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn backup_needs_exactly_one_destination() {
        assert!(Cli::try_parse_from(["attach", "backup"]).is_err());
        assert!(Cli::try_parse_from(["attach", "backup", "--out", "a", "--into", "b"]).is_err());
        let cli = Cli::try_parse_from(["attach", "backup", "--into", "b", "--keep", "3"])
            .expect("parses");
        match cli.command {
            Command::Backup(args) => assert_eq!(args.keep, Some(3)),
            other => panic!("unexpected {other:?}"),
        }
    }
}
