//! Reading and writing the configuration file: atomic writes, and a corrupt file is reported, never overwritten.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Config, Preset};

/// Why the configuration or a preset file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("Cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}, line {line}, column {column}: {message}. Fix or remove this line; mailconnect will not overwrite the file."
    )]
    Corrupt {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}, line {line} ({key}): {message} Correct this line.")]
    Invalid {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
    #[error(
        "No folder for settings could be found on this computer; give a configuration file with --config."
    )]
    NoConfigDirectory,
}

/// The configuration file at a known path.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
}

impl ConfigFile {
    /// `config.toml` in the platform's configuration directory (for example `~/.config/mailconnect` on Linux).
    pub fn default_location() -> Result<ConfigFile, ConfigError> {
        let dirs = directories::ProjectDirs::from("", "", "mailconnect")
            .ok_or(ConfigError::NoConfigDirectory)?;
        Ok(ConfigFile::at(dirs.config_dir().join("config.toml")))
    }

    /// The settings at `path`, kept as an absolute path: whatever is handed to another process (a unit, the window
    /// opened from a notification) names the same file whatever folder that process starts in.
    pub fn at(path: impl Into<PathBuf>) -> ConfigFile {
        let path = path.into();
        ConfigFile {
            path: std::path::absolute(&path).unwrap_or(path),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved configuration; the default one when the file does not exist yet. Every account and app is
    /// checked as it is read: a hand-edited bad value is refused here, with its line.
    pub fn load(&self) -> Result<Config, ConfigError> {
        match fs::read_to_string(&self.path) {
            Ok(text) => {
                let config: Config = parse_toml(&self.path, &text)?;
                super::loaded::check(&config, &text).map_err(|problem| ConfigError::Invalid {
                    path: self.path.clone(),
                    line: problem.line,
                    key: problem.key,
                    message: problem.message,
                })?;
                Ok(config)
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(source) => Err(ConfigError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Writes the configuration atomically: a temporary file beside it, flushed to disk, then renamed over it.
    ///
    /// Refuses when the file on disk does not parse, so a hand-edit with a typo is never silently replaced.
    ///
    /// The file is edited, not rewritten: the person's comments, order and layout stay, and only what changed is
    /// replaced (`toml_edit`). A symbolic link stays a link: the file it points to is what gets replaced.
    pub fn save(&self, config: &Config) -> Result<(), ConfigError> {
        let io_error = |source: std::io::Error| ConfigError::Io {
            path: self.path.clone(),
            source,
        };
        let new_text = toml::to_string_pretty(config)
            .map_err(|error| io_error(std::io::Error::other(error)))?;
        let text = match fs::read_to_string(&self.path) {
            Ok(existing) => {
                parse_toml::<Config>(&self.path, &existing)?;
                // The edited text must read back as exactly this configuration; if not (an unusual layout the
                // edit cannot follow), the plain text is written: correct beats pretty.
                edit_preserving_layout(&existing, &new_text)
                    .filter(|edited| toml::from_str::<Config>(edited).ok().as_ref() == Some(config))
                    .unwrap_or(new_text)
            }
            Err(_) => new_text,
        };
        let target = resolve_links(&self.path).map_err(io_error)?;
        if target != self.path && !target.exists() {
            return Err(io_error(std::io::Error::other(format!(
                "it is a link to {}, which does not exist",
                target.display()
            ))));
        }
        write_atomically(&target, text.as_bytes()).map_err(io_error)
    }
}

/// `existing` changed to say what `new` says, keeping its comments and layout wherever the values are the same.
/// `None` when either does not parse as TOML (the caller then writes `new` as it is).
fn edit_preserving_layout(existing: &str, new: &str) -> Option<String> {
    let mut document: toml_edit::DocumentMut = existing.parse().ok()?;
    let wanted: toml_edit::DocumentMut = new.parse().ok()?;
    merge_table(document.as_table_mut(), wanted.as_table());
    Some(document.to_string())
}

/// Makes `table` hold what `wanted` holds, touching only keys whose values differ.
fn merge_table(table: &mut toml_edit::Table, wanted: &toml_edit::Table) {
    let stale: Vec<String> = table
        .iter()
        .map(|(key, _)| key.to_owned())
        .filter(|key| !wanted.contains_key(key))
        .collect();
    for key in stale {
        table.remove(&key);
    }
    for (key, wanted_item) in wanted.iter() {
        match (table.get_mut(key), wanted_item) {
            (Some(toml_edit::Item::Table(existing)), toml_edit::Item::Table(wanted)) => {
                merge_table(existing, wanted)
            }
            (
                Some(toml_edit::Item::ArrayOfTables(existing)),
                toml_edit::Item::ArrayOfTables(wanted),
            ) => merge_array_of_tables(existing, wanted),
            (Some(toml_edit::Item::Value(existing)), toml_edit::Item::Value(wanted))
                if bare(existing) == bare(wanted) => {}
            (Some(existing), _) => {
                // The value changed: the new one, keeping the comment that sat after the old one on its line.
                let suffix = existing
                    .as_value()
                    .and_then(|value| value.decor().suffix().cloned());
                *existing = wanted_item.clone();
                if let (Some(suffix), Some(value)) = (suffix, existing.as_value_mut()) {
                    value.decor_mut().set_suffix(suffix);
                }
            }
            (None, _) => {
                table.insert(key, wanted_item.clone());
            }
        }
    }
}

/// Makes `existing` hold the tables of `wanted`. A table that names a mailbox is matched to the existing table for
/// the same mailbox, so removing or reordering accounts keeps each account's own comments; others by position.
fn merge_array_of_tables(
    existing: &mut toml_edit::ArrayOfTables,
    wanted: &toml_edit::ArrayOfTables,
) {
    fn mailbox_of(table: &toml_edit::Table) -> Option<String> {
        table
            .get("mailbox")
            .and_then(toml_edit::Item::as_str)
            .map(str::to_lowercase)
    }
    let mut old: Vec<Option<toml_edit::Table>> = existing.iter().cloned().map(Some).collect();
    let mut merged = toml_edit::ArrayOfTables::new();
    for (index, wanted_table) in wanted.iter().enumerate() {
        let found = match mailbox_of(wanted_table) {
            Some(mailbox) => old.iter().position(|table| {
                table.as_ref().and_then(mailbox_of).as_deref() == Some(mailbox.as_str())
            }),
            None => (index < old.len()).then_some(index),
        };
        let table = match found.and_then(|position| old[position].take()) {
            Some(mut table) => {
                merge_table(&mut table, wanted_table);
                table
            }
            None => wanted_table.clone(),
        };
        merged.push(table);
    }
    *existing = merged;
}

/// A value as text without the comments and spaces around it.
fn bare(value: &toml_edit::Value) -> String {
    let mut value = value.clone();
    value.decor_mut().clear();
    value.to_string().trim().to_owned()
}

/// The file a path finally names, following symbolic links (at most 40, like the system).
fn resolve_links(path: &Path) -> std::io::Result<std::path::PathBuf> {
    let mut current = path.to_owned();
    for _ in 0..40 {
        match fs::symlink_metadata(&current) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                let target = fs::read_link(&current)?;
                current = match current.parent() {
                    Some(parent) if target.is_relative() => parent.join(target),
                    _ => target,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(std::io::Error::other("too many symbolic links"))
}

/// Writes `bytes` to `path` through a temporary file beside it (mode 0600), flushed to disk, then renamed over it:
/// a reader sees the old file or the new one, never half of either.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let directory = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(directory)?;
    let mut temporary = tempfile_in(directory)?;
    // A file others read (a shared configuration) keeps its permissions; a new one is private (0600).
    if let Ok(existing) = fs::metadata(path) {
        temporary.file.set_permissions(existing.permissions())?;
    }
    temporary.file.write_all(bytes)?;
    temporary.file.sync_all()?;
    fs::rename(&temporary.path, path)?;
    temporary.renamed = true;
    Ok(())
}

/// Reads a vendor's preset file: a list of `[[preset]]` tables.
pub fn load_preset_file(path: &Path) -> Result<Vec<Preset>, ConfigError> {
    #[derive(Deserialize)]
    struct PresetFile {
        #[serde(default)]
        preset: Vec<Preset>,
    }
    let io_error = |source| ConfigError::Io {
        path: path.to_owned(),
        source,
    };
    // A preset file is a few lines; a large file dropped on the window by mistake is not read whole.
    let size = fs::metadata(path).map_err(io_error)?.len();
    if size > 1024 * 1024 {
        return Err(io_error(std::io::Error::other(
            "this is not a preset file (it is larger than 1 MiB)",
        )));
    }
    let text = fs::read_to_string(path).map_err(io_error)?;
    Ok(parse_toml::<PresetFile>(path, &text)?.preset)
}

fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|error| {
        let offset = error.span().map_or(0, |span| span.start);
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |newline| newline + 1) + 1;
        ConfigError::Corrupt {
            path: path.to_owned(),
            line,
            column,
            message: error.message().trim_end_matches('.').to_owned(),
        }
    })
}

/// A temporary file that removes itself unless it was renamed into place.
struct TemporaryFile {
    path: PathBuf,
    file: fs::File,
    renamed: bool,
}

impl Drop for TemporaryFile {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn tempfile_in(directory: &Path) -> std::io::Result<TemporaryFile> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    for attempt in 0..16u32 {
        let path = directory.join(format!(".mailconnect.{}.{attempt}.tmp", std::process::id()));
        match options.open(&path) {
            Ok(file) => {
                return Ok(TemporaryFile {
                    path,
                    file,
                    renamed: false,
                });
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    Err(std::io::Error::other("no free temporary file name"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Account;

    #[test]
    fn saves_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = ConfigFile::at(dir.path().join("nested/config.toml"));
        assert_eq!(file.load().unwrap(), Config::default());
        let mut config = Config::default();
        config.upsert_account(account("reception@practice.com"));
        file.save(&config).unwrap();
        assert_eq!(file.load().unwrap(), config);
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("nested"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("config.toml")]);
    }

    #[test]
    fn corrupt_file_names_file_and_line_and_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let corrupt = "[timeouts]\ndns = 5\nconnect = \"soon\"\n";
        fs::write(&path, corrupt).unwrap();
        let file = ConfigFile::at(&path);
        let error = file.load().unwrap_err();
        let ConfigError::Corrupt { line, .. } = &error else {
            panic!("{error:?}")
        };
        assert_eq!(*line, 3);
        let text = error.to_string();
        assert!(text.contains("config.toml, line 3"), "{text}");
        assert!(file.save(&Config::default()).is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), corrupt);
    }

    #[test]
    fn preset_file_lists_vendor_presets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("presets.toml");
        fs::write(
            &path,
            "[[preset]]\nname = \"Smile Dental\"\nprovider = \"microsoft365\"\ntenant = \"smile-dental.co.uk\"\nclient_id = \"9e5f94bc-e8a4-4e73-b8be-63364c29d753\"\n",
        )
        .unwrap();
        let presets = load_preset_file(&path).unwrap();
        assert_eq!(presets.len(), 1);
        assert_eq!(presets[0].tenant.as_deref(), Some("smile-dental.co.uk"));
    }

    /// A Microsoft 365 account for `mailbox` with the provider's defaults and a client id (settings are checked
    /// when read).
    fn account(mailbox: &str) -> Account {
        Account::from_preset(
            mailbox,
            &Preset {
                client_id: Some(CLIENT_ID.to_owned()),
                ..Preset::for_provider(crate::config::Provider::Microsoft365)
            },
        )
    }

    const CLIENT_ID: &str = "9e5f94bc-e8a4-4e73-b8be-63364c29d753";

    /// A configuration holding these mailboxes.
    fn config_with(mailboxes: &[&str]) -> Config {
        Config {
            accounts: mailboxes.iter().map(|mailbox| account(mailbox)).collect(),
            ..Config::default()
        }
    }

    #[test]
    fn saving_keeps_the_persons_comments_and_layout() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("config.toml");
        let file = ConfigFile::at(&path);
        let mut config = config_with(&["reception@practice.com"]);
        file.save(&config).unwrap();
        let annotated = fs::read_to_string(&path)
            .unwrap()
            .replacen(
                "[[account]]",
                "# The front desk, set up by Sam in May.\n[[account]]",
                1,
            )
            .replacen("mailbox = ", "# keep this address\nmailbox = ", 1);
        fs::write(&path, &annotated).unwrap();
        config.accounts.push(account("frontdesk@practice.com"));
        file.save(&config).unwrap();
        let saved = fs::read_to_string(&path).unwrap();
        assert!(
            saved.contains("# The front desk, set up by Sam in May."),
            "{saved}"
        );
        assert!(saved.contains("# keep this address"), "{saved}");
        assert_eq!(file.load().unwrap().accounts.len(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_to_the_configuration_stays_a_link() {
        let directory = tempfile::tempdir().unwrap();
        let real = directory.path().join("shared-config.toml");
        fs::write(&real, "").unwrap();
        let link = directory.path().join("config.toml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let config = config_with(&["reception@practice.com"]);
        ConfigFile::at(&link).save(&config).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(
            fs::read_to_string(&real)
                .unwrap()
                .contains("reception@practice.com")
        );
    }

    #[test]
    fn an_unusual_layout_is_rewritten_plainly_rather_than_broken() {
        // Inline tables for the servers, as a person might write them by hand.
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("config.toml");
        let file = ConfigFile::at(&path);
        let mut config = config_with(&["a@practice.com", "b@practice.com"]);
        let mut hand_written = String::from("# by hand\n");
        for account in &config.accounts {
            hand_written.push_str(&format!(
                "[[account]]\nmailbox = \"{}\"\nprovider = \"microsoft365\"\ntenant = \"organizations\"\nclient_id = \"{CLIENT_ID}\"\n\
                 imap = {{ host = \"outlook.office365.com\", port = 993, security = \"implicit-tls\" }}\n\
                 smtp = {{ host = \"smtp.office365.com\", port = 587, security = \"start-tls\" }}\n",
                account.mailbox
            ));
        }
        fs::write(&path, &hand_written).unwrap();
        assert_eq!(file.load().unwrap().accounts.len(), 2);
        config.accounts[0].imap.port = 1993;
        file.save(&config).unwrap();
        let saved = file.load().expect("still a valid configuration");
        assert_eq!(saved.accounts.len(), 2);
        assert_eq!(saved.accounts[0].imap.port, 1993);
        assert_eq!(saved.accounts[1].mailbox, "b@practice.com");
    }

    #[test]
    fn removing_an_account_keeps_each_remaining_accounts_own_comments() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("config.toml");
        let file = ConfigFile::at(&path);
        let mut config = config_with(&["a@practice.com", "b@practice.com", "c@practice.com"]);
        file.save(&config).unwrap();
        let mut annotated = String::new();
        for (index, part) in fs::read_to_string(&path)
            .unwrap()
            .split("[[account]]")
            .enumerate()
        {
            if index > 0 {
                annotated.push_str(&format!("# note {index}\n[[account]]"));
            }
            annotated.push_str(part);
        }
        fs::write(&path, &annotated).unwrap();
        assert!(config.remove_account("B@practice.com"));
        file.save(&config).unwrap();
        let saved = fs::read_to_string(&path).unwrap();
        assert!(!saved.contains("b@practice.com"), "{saved}");
        let note_of = |mailbox: &str| {
            let at = saved.find(mailbox).unwrap();
            saved[..at]
                .rfind("# note ")
                .map(|note| saved[note..note + 8].to_owned())
        };
        assert_eq!(
            note_of("a@practice.com").as_deref(),
            Some("# note 1"),
            "{saved}"
        );
        assert_eq!(
            note_of("c@practice.com").as_deref(),
            Some("# note 3"),
            "{saved}"
        );
        assert!(
            !saved.contains("# note 2"),
            "the removed account's note goes with it: {saved}"
        );
        assert_eq!(file.load().unwrap(), config);
    }
}
