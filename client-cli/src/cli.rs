//! The command tree of `between`, as clap derive types.
//!
//! Raw arguments are parsed here and nowhere else; the command modules receive these structs.
//! Every read command takes the global `--json`; every command that acts on one client's
//! homework takes the global `--client` (needed only on a therapist's profile).

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Between: therapy homework that works offline and syncs end-to-end encrypted.
#[derive(Debug, Parser)]
#[command(name = "between", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    /// The device profile to use (one profile per person per device).
    #[arg(
        long,
        global = true,
        env = "BETWEEN_PROFILE",
        default_value = "default"
    )]
    pub(crate) profile: String,

    /// Where profiles are kept (default: the platform's data directory).
    #[arg(long, global = true, env = "BETWEEN_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,

    /// On a therapist's profile: the client whose homework to act on (name or id prefix).
    #[arg(long, short = 'c', global = true, env = "BETWEEN_CLIENT")]
    pub(crate) client: Option<String>,

    /// Print machine-readable JSON instead of text (read commands).
    #[arg(long, global = true)]
    pub(crate) json: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a profile for this device.
    Init(InitArgs),
    /// Open Between in your browser: the app for doing (and assigning) homework, served from
    /// this device only, syncing in the background while it runs.
    App(AppArgs),
    /// What is due today (and this week with --week).
    Today(TodayArgs),
    /// Overview of assignments, goals and recent entries.
    List(ListArgs),
    /// Show any record (assignment, entry, goal, comment or template) by id, with its comments.
    Show(ShowArgs),
    /// Adherence, streaks, mood and other trends.
    Progress,
    /// Export the homework as JSON (round-trips) or readable Markdown.
    Export(ExportArgs),
    /// Assign homework and adjust it.
    #[command(subcommand, visible_alias = "a")]
    Assignment(AssignmentCommand),
    /// Do homework: entries following a template.
    #[command(subcommand, visible_alias = "e")]
    Entry(EntryCommand),
    /// Comment on assignments, entries (or one field) and goals.
    #[command(subcommand)]
    Comment(CommentCommand),
    /// Goals and their small steps.
    #[command(subcommand)]
    Goal(GoalCommand),
    /// Worksheet templates: built-in and custom.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// A therapist's clients (one homework document each).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Where to get help right now: your practice's crisis resources (works offline, always).
    HelpNow,
    /// Desktop reminders of homework due today, at the times set on assignments (`assignment
    /// remind`): stays running and raises each through the system's notifications, offline.
    Remind(RemindArgs),
    /// Set your practice's crisis resources (therapist): written into every client's homework,
    /// kept for clients you add later (or only the one named with --client), shown on their
    /// devices with a risky answer and by `between help-now`. Without a text, shows them.
    CrisisResources {
        /// The text: who to call, numbers, hours.
        text: Option<String>,
    },
    /// Risk flags on questionnaires (PHQ-9 item 9 above 0, a severe total, a sharp rise): list
    /// them, and, as the therapist, acknowledge one.
    #[command(subcommand)]
    Risk(RiskCommand),
    /// A therapist's caseload: every client with what is new since you last looked (new
    /// entries, unanswered comments, overdue homework) and their last activity.
    Clients(ClientsArgs),
    /// Safety numbers: yours, and those of everyone you share homework with, to compare out of
    /// band (from this device's store; no network).
    Whois,
    /// Move a homework document by file, for working without a relay.
    #[command(subcommand)]
    Doc(DocCommand),
    /// Send this device's changes to the relay and fetch the others' (needs the network).
    Sync(SyncArgs),
    /// The relay, last sync, changes waiting to be sent, and this account's devices.
    Status,
    /// Who accessed your homework: every sign-in, read and write the relay recorded, and every
    /// refused attempt (needs the network); filter by time, device and kind.
    Audit(AuditArgs),
    /// Delete your homework from the relay for good (clients only; it stays on this device).
    DeleteFromRelay(DeleteFromRelayArgs),
    /// This account's devices: add (pair) another one.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Your therapist's access to your homework (client profiles that sync).
    #[command(subcommand)]
    Therapist(TherapistCommand),
    /// Print shell completions.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RoleArg {
    /// The person doing the homework.
    Client,
    /// The therapist who assigns it.
    Therapist,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("join").args(["invite", "pair"])))]
pub(crate) struct InitArgs {
    /// Whose profile this is. With --relay and --invite it defaults to client (a therapist says
    /// `--role therapist` with the invite from the practice admin); with --pair the new device
    /// takes the role of the account it joins.
    #[arg(long, value_enum, required_unless_present_any = ["relay", "invite"])]
    pub(crate) role: Option<RoleArg>,
    /// Your name as shown to the other person.
    #[arg(long)]
    pub(crate) name: String,
    /// Client only: start from a homework document file your therapist gave you (`between doc
    /// save`), instead of creating a new one.
    #[arg(long, conflicts_with = "relay")]
    pub(crate) document: Option<PathBuf>,
    /// Sync through this relay (for example wss://relay.example.org); needs --invite or --pair.
    #[arg(long, value_name = "URL", requires = "join")]
    pub(crate) relay: Option<String>,
    /// Your invite: makes this your account's first device. A therapist's invite for you
    /// (`wss://…#CODE`) names the relay itself; a bare code from the practice admin needs
    /// --relay.
    #[arg(long, value_name = "INVITE")]
    pub(crate) invite: Option<String>,
    /// The pairing code from `between device add` on your other device: joins this device.
    #[arg(long, value_name = "CODE", requires = "relay")]
    pub(crate) pair: Option<String>,
    /// A name for this device, shown with what it wrote (for example "laptop").
    #[arg(long, value_name = "NAME", requires = "join")]
    pub(crate) device_name: Option<String>,
    /// Your practice's certificate authority (a PEM file from the practice admin), when the
    /// relay's certificate is not signed by a publicly trusted one. Kept in the profile.
    #[arg(long, value_name = "FILE", requires = "join")]
    pub(crate) ca_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ClientsArgs {
    /// Mark this client's homework as seen now (name or id prefix), without showing it.
    #[arg(long, value_name = "NAME")]
    pub(crate) seen: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DeleteFromRelayArgs {
    /// Delete without asking (needed when not in a terminal).
    #[arg(long)]
    pub(crate) yes: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    /// Stay connected: send this device's changes within a second of any `between` command,
    /// and apply others' changes as they arrive (Ctrl-C stops).
    #[arg(long)]
    pub(crate) watch: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DeviceCommand {
    /// Make a one-time pairing code for another device of yours (works for 24 hours; this
    /// device need not be online when the other one uses it). Outside a terminal only the code
    /// goes to standard output (`CODE=$(between device add)`), what to do with it to standard
    /// error.
    Add,
    /// Remove a lost or retired device of yours: the relay refuses it from now on, and your
    /// homework moves to new keys it never gets (needs the network).
    Remove {
        /// The device: its id or the start of it (`between status` lists them).
        device: String,
        /// Do not ask for confirmation (needed when not run in a terminal).
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TherapistCommand {
    /// Stop sharing your homework with your therapist: the relay refuses their devices from now
    /// on and what you write is sealed with a new key they never get (needs the network).
    Remove {
        /// Do not ask for confirmation (needed when not run in a terminal).
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct RemindArgs {
    /// Raise the reminders whose time has come today and stop (for a scheduler such as cron).
    #[arg(long)]
    pub(crate) once: bool,
    /// Say only that homework is due, not what: for a screen others can see.
    #[arg(long)]
    pub(crate) discreet: bool,
}

#[derive(Debug, Default, Args)]
pub(crate) struct AuditArgs {
    /// Only events from then on: a date (2026-03-02), a date and time (2026-03-02 18:00), or a
    /// span back from now (7d, 12h, 30m).
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Only events up to then (a date counts to its end); same forms as --since.
    #[arg(long)]
    pub(crate) until: Option<String>,
    /// Only events of one device: its name ("phone", "Dr Rivera"), the start of its id, or
    /// `this`.
    #[arg(long)]
    pub(crate) device: Option<String>,
    /// Only events of these kinds (repeat, or separate with commas).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub(crate) kind: Vec<AuditKind>,
}

/// A kind of event in the access record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum AuditKind {
    /// Sign-ins and devices joining.
    SignIn,
    /// Reading the homework, its keys, members or this record.
    Read,
    /// Writing changes, keys or members.
    Write,
    /// Anything the relay refused.
    Refused,
    /// Everything else (invites, pairing codes, account changes).
    Other,
}

#[derive(Debug, Args)]
pub(crate) struct TodayArgs {
    /// Show the whole week (Monday to Sunday) instead of today only.
    #[arg(long)]
    pub(crate) week: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Include done and archived assignments and achieved or dropped goals.
    #[arg(long)]
    pub(crate) all: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The id (or its first characters) of any record; `last` is the newest entry.
    pub(crate) id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExportFormat {
    /// Everything as JSON; reads back into the same records.
    Json,
    /// A readable report.
    Markdown,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "markdown")]
    pub(crate) format: ExportFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub(crate) output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ScheduleArgs {
    /// How often: `daily`, `weekly:mon,wed,fri`, `once:YYYY-MM-DD` or `once:+3` (due in 3 days).
    #[arg(long)]
    pub(crate) every: Option<String>,
    /// First day it is due (default: today).
    #[arg(long)]
    pub(crate) starts: Option<String>,
    /// Last day it is due.
    #[arg(long)]
    pub(crate) ends: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AssignmentCommand {
    /// Assign homework from a built-in or custom template.
    Create {
        /// The template (see `between template list`).
        #[arg(long, short)]
        template: String,
        /// A short title (default: the template's name).
        #[arg(long)]
        title: Option<String>,
        /// Instructions for the client.
        #[arg(long, default_value = "")]
        instructions: String,
        #[command(flatten)]
        schedule: ScheduleArgs,
        /// Minutes per practice.
        #[arg(long, allow_negative_numbers = true)]
        minutes: Option<i64>,
        /// What to focus on.
        #[arg(long)]
        focus: Option<String>,
        /// The goal it serves (its id or title).
        #[arg(long)]
        goal: Option<String>,
        /// Remind the client at this time of day when it is due (HH:MM, their clock; see
        /// `between remind`).
        #[arg(long, value_name = "HH:MM")]
        remind: Option<String>,
    },
    /// Set the time of day the client's devices remind them of an assignment when it is due
    /// (HH:MM), or `off`.
    Remind {
        /// The assignment id.
        id: String,
        /// HH:MM on the 24-hour clock, or `off`.
        at: String,
    },
    /// List assignments.
    List(ListArgs),
    /// Change frequency, duration or focus (recorded with who, when and why).
    Adjust {
        /// The assignment: its id, or its template or title when only one open assignment has it.
        id: String,
        #[command(flatten)]
        schedule: ScheduleArgs,
        /// New minutes per practice (0 clears it).
        #[arg(long, allow_negative_numbers = true)]
        minutes: Option<i64>,
        /// New focus.
        #[arg(long)]
        focus: Option<String>,
        /// Why it changes.
        #[arg(long)]
        why: String,
    },
    /// Pause an assignment.
    Pause(StatusArgs),
    /// Resume a paused assignment.
    Resume(StatusArgs),
    /// Mark an assignment done.
    Complete(StatusArgs),
    /// Archive an assignment.
    Archive(StatusArgs),
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The assignment: its id, or its template or title when only one open assignment has it.
    pub(crate) id: String,
    /// Why.
    #[arg(long, default_value = "")]
    pub(crate) why: String,
}

#[derive(Debug, Args)]
pub(crate) struct FieldArgs {
    /// Set a field: `FIELD=VALUE` (repeatable). See `between template show T` for fields.
    #[arg(long = "set", short = 's', value_name = "FIELD=VALUE")]
    pub(crate) set: Vec<String>,
    /// Edit a long-text field in $EDITOR (repeatable).
    #[arg(long, value_name = "FIELD")]
    pub(crate) edit: Vec<String>,
    /// Clear a field (repeatable).
    #[arg(long, value_name = "FIELD")]
    pub(crate) clear: Vec<String>,
    /// How hard it was, 0 (easy) to 10 (very hard).
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) difficulty: Option<i64>,
    /// What got in the way: motivation, time, discomfort, forgot, other (repeatable or
    /// comma-separated).
    #[arg(long = "obstacle", value_delimiter = ',')]
    pub(crate) obstacles: Vec<String>,
    /// Never prompt, even in a terminal.
    #[arg(long)]
    pub(crate) no_input: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum EntryCommand {
    /// Do an assignment, or log a free entry from a template.
    New {
        /// The assignment to do: its id, or its template (e.g. thought-record) or title when
        /// only one open assignment has it; omit with --template for a free entry.
        assignment: Option<String>,
        /// The template of a free entry.
        #[arg(long, short)]
        template: Option<String>,
        /// The day it is for (default: today).
        #[arg(long)]
        date: Option<String>,
        /// Save part-way; finish later with `between entry complete` (or on another device).
        #[arg(long)]
        draft: bool,
        /// Keep it private: it stays on your own devices and your therapist cannot see it
        /// (share it later with `between entry share`).
        #[arg(long)]
        private: bool,
        #[command(flatten)]
        fields: FieldArgs,
    },
    /// Change an entry; it stays a draft unless --complete.
    Edit {
        /// The entry id, or `last` for the newest entry.
        id: String,
        /// Complete the entry too.
        #[arg(long)]
        complete: bool,
        #[command(flatten)]
        fields: FieldArgs,
    },
    /// Complete a draft entry.
    Complete {
        /// The entry id, or `last` for the newest entry.
        id: String,
    },
    /// Share a private entry with your therapist: it moves, with its comments, into the
    /// homework your therapist sees.
    Share {
        /// The private entry's id, or `last` for the newest entry.
        id: String,
    },
    /// List entries.
    List {
        /// Only entries of this assignment (its id, template or title).
        #[arg(long)]
        assignment: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CommentCommand {
    /// Comment on an assignment, entry, entry field or goal.
    Add {
        /// What to comment on: an id, or `ENTRY_ID:FIELD` for one field of an entry (`last` is
        /// the newest entry: `last:balanced_thought`).
        target: String,
        /// The comment.
        text: String,
    },
    /// Reply to a comment.
    Reply {
        /// The comment id, or `last` for the newest comment.
        id: String,
        /// The reply.
        text: String,
    },
    /// Mark a comment thread resolved.
    Resolve {
        /// The comment id, or `last` for the newest comment.
        id: String,
    },
    /// Open a resolved comment thread again.
    Reopen {
        /// The comment id, or `last` for the newest comment.
        id: String,
    },
    /// List comments.
    List {
        /// Only unresolved ones.
        #[arg(long)]
        open: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum RiskCommand {
    /// Every flagged questionnaire, open ones first, with why and who acknowledged it.
    List,
    /// Record that you saw a flag, and what you did about it (therapist only). The
    /// acknowledgement is written into the client's homework; the flag leaves `between clients`.
    Ack {
        /// The flagged entry's id (or the start of it), or `last` for the newest entry.
        entry: String,
        /// What you did or will do ("called Sam; safety plan reviewed").
        #[arg(long, default_value = "")]
        note: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum GoalCommand {
    /// Set a goal with small steps.
    Create {
        /// What you want to reach.
        title: String,
        /// Why it matters.
        #[arg(long, default_value = "")]
        why: String,
        /// A small step (repeatable).
        #[arg(long = "step")]
        steps: Vec<String>,
    },
    /// List goals.
    List(ListArgs),
    /// Add a small step to a goal.
    AddStep {
        /// The goal: its id or title.
        goal: String,
        /// The step.
        text: String,
    },
    /// Tick a step off: `GOAL STEP_NUMBER` (numbers as shown by `between show GOAL`).
    Tick {
        /// The goal: its id or title.
        goal: String,
        /// The step's number.
        step: usize,
    },
    /// Un-tick a step.
    Untick {
        /// The goal: its id or title.
        goal: String,
        /// The step's number.
        step: usize,
    },
    /// Mark a goal achieved.
    Achieve {
        /// The goal: its id or title.
        goal: String,
    },
    /// Set a goal aside.
    Drop {
        /// The goal: its id or title.
        goal: String,
    },
    /// Make an achieved or dropped goal active again.
    Reopen {
        /// The goal: its id or title.
        goal: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TemplateCommand {
    /// List built-in and custom templates.
    List,
    /// Show a template's fields.
    Show {
        /// The template id.
        id: String,
    },
    /// Define a custom worksheet (therapist).
    Create {
        /// Its name.
        #[arg(long)]
        name: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
        /// A field: `ID:KIND:LABEL`, KIND one of short-text, long-text, scale(MIN..MAX),
        /// single(A|B|C), multi(A|B|C), checklist(A|B|C); append `!` to the id for required,
        /// e.g. `urge!:scale(0..10):How strong was the urge?` (repeatable, in order).
        #[arg(long = "field", required = true)]
        fields: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ClientCommand {
    /// Start a homework document for a new client (therapist).
    New {
        /// The client's name as you want to see it.
        name: String,
    },
    /// Add a client's homework document from a file they gave you (`between doc save`).
    Import {
        /// The file.
        file: PathBuf,
        /// The name to list the client under (default: the name in the document).
        #[arg(long)]
        name: Option<String>,
    },
    /// List your clients.
    List,
    /// End working with a client through the relay: the relay stops giving you their homework,
    /// and their devices move it to a new key without you. Your copy stays on this device.
    End {
        /// The client's name (or id prefix).
        name: String,
        /// Do not ask for confirmation (needed when not run in a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Invite a client to the relay (therapist with a relay profile): prints an invite to give
    /// them, carrying the relay's address, a one-time secret and your key's fingerprint.
    /// Outside a terminal only the invite goes to standard output
    /// (`INVITE=$(between client invite)`), what to do with it to standard error.
    Invite {
        /// Days until the invite expires (1 to 30).
        #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=30))]
        expires_in_days: u32,
    },
    /// Change the name a client is listed under on this device.
    Rename {
        /// The client's current name (or id prefix).
        name: String,
        /// The new name.
        new_name: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum DocCommand {
    /// Write the whole homework document to a file, to hand to the other person's device.
    Save {
        /// The file to write.
        file: PathBuf,
    },
    /// Merge a homework document file from another device into this one.
    Merge {
        /// The file to read.
        file: PathBuf,
    },
}

/// `between app`.
#[derive(Debug, Args)]
pub(crate) struct AppArgs {
    /// The port on 127.0.0.1 to serve on (default: any free port).
    #[arg(long, default_value_t = 0)]
    pub(crate) port: u16,
    /// Do not open a browser; print the link to open.
    #[arg(long)]
    pub(crate) no_open: bool,
}
