//! Interactive questions in a terminal: one prompt per template field, and `$EDITOR` for long
//! text. Used only when standard input and output are terminals and no `--no-input` was given;
//! scripts use `--set FIELD=VALUE` instead.

use anyhow::{Context, Result};
use between_shared::template::input::{describe_kind, format_input, parse_input};
use between_shared::template::{FieldDef, FieldKind, FieldValue};
use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, Editor, Input, MultiSelect, Select};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Whether we may ask questions.
pub(crate) fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// Set once Ctrl-C was pressed or the terminal was closed while questions were asked.
static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// From now on, Ctrl-C (SIGINT) and a closed terminal (SIGHUP) no longer end the process: they
/// end the questions, so the caller can keep what was answered ([`stop_requested`]). A prompt
/// waiting for a key then fails (the terminal library raises SIGINT itself on Ctrl-C, and a
/// closed terminal ends the read), which the caller takes as the same request.
pub(crate) fn hold_interruptions() -> Result<()> {
    if STOP.get().is_some() {
        return Ok(());
    }
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(signal, Arc::clone(&flag))
            .context("could not prepare to keep your answers if you press Ctrl-C")?;
    }
    let _ = STOP.set(flag);
    Ok(())
}

/// Whether Ctrl-C was pressed or the terminal closed since [`hold_interruptions`].
pub(crate) fn stop_requested() -> bool {
    STOP.get().is_some_and(|flag| flag.load(Ordering::SeqCst))
}

/// Opens `$EDITOR` on a long text; `None` when the person quits without saving.
pub(crate) fn edit_text(label: &str, current: &str) -> Result<Option<String>> {
    let edited = Editor::new()
        .extension(".md")
        .edit(current)
        .with_context(|| format!("could not open an editor for '{label}'; set $EDITOR"))?;
    Ok(edited.map(|text| text.trim_end().to_string()))
}

/// Asks for one field; `None` means "leave it as it is".
pub(crate) fn ask_field(
    field: &FieldDef,
    current: Option<&FieldValue>,
) -> Result<Option<FieldValue>> {
    let theme = ColorfulTheme::default();
    let required = if field.required { "" } else { " (optional)" };
    let label = format!("{}{required}", field.label);
    if !field.help.is_empty() {
        eprintln!("  {}", field.help);
    }
    let answer = match &field.kind {
        FieldKind::SingleChoice { options } => ask_choice(&theme, &label, options, current)?,
        FieldKind::MultiChoice { options } | FieldKind::Checklist { items: options } => {
            Some(ask_several(&theme, field, &label, options, current)?)
        }
        FieldKind::YesNo => {
            let default = matches!(current, Some(FieldValue::YesNo(true)));
            Some(FieldValue::YesNo(
                Confirm::with_theme(&theme)
                    .with_prompt(&label)
                    .default(default)
                    .interact()?,
            ))
        }
        FieldKind::LongText
            if std::env::var_os("EDITOR").is_some() || std::env::var_os("VISUAL").is_some() =>
        {
            let current_text = current.map(format_input).unwrap_or_default();
            eprintln!("{label}: opening your editor…");
            edit_text(&field.label, &current_text)?
                .map(|text| parse_input(field, &text))
                .transpose()?
        }
        _ => ask_text(&theme, field, &label, current)?,
    };
    Ok(answer)
}

/// One of a field's options, from a list with the current choice selected and "(skip)" last;
/// skipping gives `None`.
fn ask_choice(
    theme: &ColorfulTheme,
    label: &str,
    options: &[String],
    current: Option<&FieldValue>,
) -> Result<Option<FieldValue>> {
    let mut items: Vec<String> = options.to_vec();
    items.push("(skip)".into());
    let current_index = match current {
        Some(FieldValue::Choice(c)) => options.iter().position(|o| o == c),
        _ => None,
    };
    let chosen = Select::with_theme(theme)
        .with_prompt(label)
        .items(&items)
        .default(current_index.unwrap_or(options.len()))
        .interact()?;
    Ok(options.get(chosen).map(|o| FieldValue::Choice(o.clone())))
}

/// Any of a field's options, ticked in a list that starts from the current ticks; read back
/// as the field reads typed input, so the answer is checked the same way.
fn ask_several(
    theme: &ColorfulTheme,
    field: &FieldDef,
    label: &str,
    options: &[String],
    current: Option<&FieldValue>,
) -> Result<FieldValue> {
    let selected: Vec<&str> = current.map(FieldValue::selected).unwrap_or_default();
    let defaults: Vec<bool> = options
        .iter()
        .map(|o| selected.contains(&o.as_str()))
        .collect();
    let chosen = MultiSelect::with_theme(theme)
        .with_prompt(format!("{label} — space to tick, enter to confirm"))
        .items(options)
        .defaults(&defaults)
        .interact()?;
    let text = chosen
        .iter()
        .filter_map(|i| options.get(*i).cloned())
        .collect::<Vec<_>>()
        .join(",");
    Ok(parse_input(field, &text)?)
}

/// A typed answer, starting from the current one and refused until it parses; empty means
/// `None`, leaving the field as it is.
fn ask_text(
    theme: &ColorfulTheme,
    field: &FieldDef,
    label: &str,
    current: Option<&FieldValue>,
) -> Result<Option<FieldValue>> {
    let hint = describe_kind(&field.kind);
    let initial = current.map(format_input).unwrap_or_default();
    let text: String = Input::with_theme(theme)
        .with_prompt(format!("{label} [{hint}]"))
        .with_initial_text(initial)
        .allow_empty(true)
        .validate_with(|text: &String| -> Result<(), String> {
            if text.trim().is_empty() {
                return Ok(());
            }
            parse_input(field, text)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .interact_text()?;
    if text.trim().is_empty() {
        Ok(None)
    } else {
        Ok(Some(parse_input(field, &text)?))
    }
}

/// Asks how hard it was and what got in the way (both optional).
pub(crate) fn ask_difficulty() -> Result<(Option<i64>, Option<Vec<String>>)> {
    let theme = ColorfulTheme::default();
    let difficulty: String = Input::with_theme(&theme)
        .with_prompt("How hard was it, 0 (easy) to 10 (very hard)? (optional)")
        .allow_empty(true)
        .validate_with(|text: &String| -> Result<(), String> {
            match text.trim() {
                "" => Ok(()),
                t => match t.parse::<i64>() {
                    Ok(n) if (0..=10).contains(&n) => Ok(()),
                    _ => Err("enter a whole number from 0 to 10, or leave it empty".into()),
                },
            }
        })
        .interact_text()?;
    let difficulty = difficulty.trim().parse().ok();
    let options = between_shared::model::OBSTACLES;
    let chosen = MultiSelect::with_theme(&theme)
        .with_prompt("What got in the way? (space to tick, enter to confirm)")
        .items(options)
        .interact()?;
    let obstacles: Vec<String> = chosen
        .iter()
        .filter_map(|i| options.get(*i).map(|o| (*o).to_string()))
        .collect();
    Ok((difficulty, (!obstacles.is_empty()).then_some(obstacles)))
}
