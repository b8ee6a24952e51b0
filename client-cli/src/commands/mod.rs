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

use crate::cli::{Cli, Command, DeviceCommand, InitArgs, TherapistCommand};
use crate::profile::{Session, Workspace};
use anyhow::Result;
use between_shared::crypto::ClientInvite;
use clap::CommandFactory;
use std::path::Path;

/// Runs the command the person typed. Commands about the profile or its relay open a
/// [`Session`]; commands about one client's homework open a [`Workspace`].
pub(crate) fn run(cli: Cli) -> Result<()> {
    let data_dir = cli.data_dir.clone();
    let session = || Session::open(data_dir.as_deref(), &cli.profile);
    let open = |cli: &Cli| -> Result<Workspace> { session()?.workspace(cli.client.as_deref()) };
    match &cli.command {
        Command::Init(args) => init(data_dir.as_deref(), &cli.profile, args),
        Command::App(args) => crate::app::run(
            &crate::profile::profile_dir(data_dir.as_deref(), &cli.profile)?,
            args,
        ),
        Command::Sync(args) => relay::sync(session()?, args.watch, cli.json),
        Command::Status => relay::status(&session()?, cli.json),
        Command::Audit(args) => audit::audit(&session()?, args, cli.json),
        Command::Therapist(TherapistCommand::Remove { yes }) => {
            relay::therapist_remove(&session()?, *yes)
        }
        Command::DeleteFromRelay(args) => data::delete_from_relay(&mut session()?, args.yes),
        Command::Device(DeviceCommand::Remove { device, yes }) => {
            relay::device_remove(&session()?, device, *yes)
        }
        Command::Device(DeviceCommand::Add) => relay::device_add(session()?),
        Command::Client(command) => setup::client(session()?, command, cli.json),
        Command::Doc(command) => setup::doc(open(&cli)?, command),
        Command::Clients(args) => caseload::clients(session()?, args, cli.json),
        Command::Whois => whois::whois(&session()?, cli.json),
        Command::Today(args) => views::today(&mut open(&cli)?, args, cli.json),
        Command::List(args) => views::list(&open(&cli)?, args, cli.json),
        // `show` marks what it displays seen for `between clients` (new is per record).
        Command::Show(args) => caseload::showing(open(&cli)?, &args.id, |ws| {
            views::show(ws, &args.id, cli.json)
        }),
        Command::Progress => views::progress(&open(&cli)?, cli.json),
        Command::Export(args) => views::export(&open(&cli)?, args),
        Command::Assignment(command) => homework::assignment(open(&cli)?, command, cli.json),
        Command::Goal(command) => homework::goal(open(&cli)?, command, cli.json),
        Command::Comment(command) => homework::comment(open(&cli)?, command, cli.json),
        Command::Risk(command) => risk::risk(open(&cli)?, command, cli.json),
        Command::HelpNow => risk::help_now(open(&cli).ok()),
        Command::Remind(args) => remind::remind(session()?.store.path(), args),
        Command::CrisisResources { text } => {
            risk::set_crisis_resources(session()?, cli.client.as_deref(), text.as_deref())
        }
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

/// `between init`: a profile that syncs when a relay is given or an invite names one, else one
/// that stays on this device. An invite that cannot be read says so before anything is made.
fn init(data_dir: Option<&Path>, profile: &str, args: &InitArgs) -> Result<()> {
    match (&args.relay, &args.invite) {
        (Some(relay), _) => relay::init(data_dir, profile, args, relay),
        (None, Some(invite)) => match ClientInvite::parse(invite) {
            Some(Ok(parsed)) => relay::init(data_dir, profile, args, &parsed.relay_url),
            Some(Err(err)) => Err(anyhow::anyhow!(
                "{err}; check the invite your therapist gave you"
            )),
            None => Err(anyhow::anyhow!(
                "this invite code does not name a relay; add --relay URL (the relay's address from your practice)"
            )),
        },
        (None, None) => setup::init(data_dir, profile, args),
    }
}

/// Prints a value as pretty JSON.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
