//! Runs one parsed command. Each submodule owns a group of commands; this module only routes.

mod audit;
mod audit_filter;
mod caseload;
pub(crate) mod data;
mod entry;
mod heard;
mod homework;
mod relay;
mod remind;
mod risk;
mod setup;
mod views;
mod whois;

pub(crate) use audit::audit_json;
pub(crate) use caseload::{caseload_json, mark_seen};
pub(crate) use homework::{find_comment, parse_day, schedule_from};
pub(crate) use relay::{new_client_invite, new_pairing, pending_changes, Unreachable};
pub(crate) use views::{due_items, export_text, tell_news};
pub(crate) use whois::whois_json;

use crate::cli::{Cli, Command, DeviceCommand, TherapistCommand};
use crate::profile::{Session, Workspace};
use anyhow::Result;
use between_shared::crypto::ClientInvite;
use clap::CommandFactory;

/// Runs the command the person typed.
pub(crate) fn run(cli: Cli) -> Result<()> {
    let data_dir = cli.data_dir.clone();
    let open = |cli: &Cli| -> Result<Workspace> {
        Session::open(data_dir.as_deref(), &cli.profile)?.workspace(cli.client.as_deref())
    };
    match &cli.command {
        Command::Init(args) => match (&args.relay, &args.invite) {
            (Some(relay), _) => relay::init(data_dir.as_deref(), &cli.profile, args, relay),
            (None, Some(invite)) => match ClientInvite::parse(invite) {
                Some(Ok(parsed)) => {
                    relay::init(data_dir.as_deref(), &cli.profile, args, &parsed.relay_url)
                }
                Some(Err(err)) => Err(anyhow::anyhow!(
                    "{err}; check the invite your therapist gave you"
                )),
                None => Err(anyhow::anyhow!(
                    "this invite code does not name a relay; add --relay URL (the relay's address from your practice)"
                )),
            },
            (None, None) => setup::init(data_dir.as_deref(), &cli.profile, args),
        },
        Command::App(args) => crate::app::run(
            &crate::profile::profile_dir(data_dir.as_deref(), &cli.profile)?,
            args,
        ),
        Command::Sync(args) => relay::sync(
            Session::open(data_dir.as_deref(), &cli.profile)?,
            args.watch,
            cli.json,
        ),
        Command::Status => {
            relay::status(&Session::open(data_dir.as_deref(), &cli.profile)?, cli.json)
        }
        Command::Audit(args) => audit::audit(
            &Session::open(data_dir.as_deref(), &cli.profile)?,
            args,
            cli.json,
        ),
        Command::Therapist(TherapistCommand::Remove { yes }) => {
            relay::therapist_remove(&Session::open(data_dir.as_deref(), &cli.profile)?, *yes)
        }
        Command::DeleteFromRelay(args) => data::delete_from_relay(
            &mut Session::open(data_dir.as_deref(), &cli.profile)?,
            args.yes,
        ),
        Command::Device(DeviceCommand::Remove { device, yes }) => relay::device_remove(
            &Session::open(data_dir.as_deref(), &cli.profile)?,
            device,
            *yes,
        ),
        Command::Device(DeviceCommand::Add) => {
            relay::device_add(Session::open(data_dir.as_deref(), &cli.profile)?)
        }
        Command::Client(command) => {
            let session = Session::open(data_dir.as_deref(), &cli.profile)?;
            setup::client(session, command, cli.json)
        }
        Command::Doc(command) => setup::doc(open(&cli)?, command),
        Command::Clients(args) => caseload::clients(
            Session::open(data_dir.as_deref(), &cli.profile)?,
            args,
            cli.json,
        ),
        Command::Whois => whois::whois(&Session::open(data_dir.as_deref(), &cli.profile)?, cli.json),
        Command::Today(args) => views::today(&mut open(&cli)?, args, cli.json),
        Command::List(args) => views::list(&open(&cli)?, args, cli.json),
        // `show` marks what it displays seen for `between clients` (new is per record).
        Command::Show(args) => {
            caseload::showing(open(&cli)?, &args.id, |ws| views::show(ws, &args.id, cli.json))
        }
        Command::Progress => views::progress(&open(&cli)?, cli.json),
        Command::Export(args) => views::export(&open(&cli)?, args),
        Command::Assignment(command) => homework::assignment(open(&cli)?, command, cli.json),
        Command::Goal(command) => homework::goal(open(&cli)?, command, cli.json),
        Command::Comment(command) => homework::comment(open(&cli)?, command, cli.json),
        Command::Risk(command) => risk::risk(open(&cli)?, command, cli.json),
        Command::HelpNow => risk::help_now(open(&cli).ok()),
        Command::Remind(args) => remind::remind(
            Session::open(data_dir.as_deref(), &cli.profile)?.store.path(),
            args,
        ),
        Command::CrisisResources { text } => risk::set_crisis_resources(
            Session::open(data_dir.as_deref(), &cli.profile)?,
            cli.client.as_deref(),
            text.as_deref(),
        ),
        Command::Template(command) => homework::template(open(&cli)?, command, cli.json),
        Command::Entry(command) => entry::entry(open(&cli)?, command, cli.json),
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "between",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    }
}

/// Prints a value as pretty JSON.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
