//! Settings checked when they are read: a hand-edited `config.toml` with a bad address, port or URL is refused at
//! once with its line and field, instead of failing later in the middle of a sign-in, a check or a script.

use super::Config;
use super::validate::{self, Field};

/// The first problem in the settings, with the line (1 is the first) and the key it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub key: String,
    pub message: String,
}

/// Every account and app in `config` checked as the wizard checks what is typed; `text` is the file, to find
/// the line.
pub fn check(config: &Config, text: &str) -> Result<(), Problem> {
    for (index, account) in config.accounts.iter().enumerate() {
        let mut problems = account.problems();
        if let Some(service) = &account.service_account
            && let Err(error) = validate::mailbox(service, Field::SignInAccount)
        {
            problems.push(error);
        }
        if let Some(problem) = problems.into_iter().next() {
            let keys = keys_for(problem.field);
            let (line, key) = find_line(text, "account", index, keys);
            return Err(Problem {
                line,
                key,
                message: problem.message,
            });
        }
    }
    for (index, app) in config.apps.iter().enumerate() {
        if let Some(problem) = app.problems().into_iter().next() {
            let keys = keys_for(problem.field);
            let (line, key) = find_line(text, "app", index, keys);
            return Err(Problem {
                line,
                key,
                message: problem.message,
            });
        }
    }
    Ok(())
}

fn keys_for(field: Field) -> &'static [&'static str] {
    match field {
        Field::Mailbox => &["mailbox"],
        Field::SignInAccount => &["sign_in_account", "service_account"],
        Field::Tenant => &["tenant"],
        Field::ClientId => &["client_id", "enterprise_object_id"],
        Field::Host => &["host"],
        Field::Port => &["port"],
        Field::Url => &["authorize_url", "token_url", "device_code_url"],
        Field::Scope => &["scopes"],
    }
}

/// The line of `keys` in the `index`th `[[table]]` (its sub-tables and inline tables included), preferring the one
/// whose value is itself wrong (of an IMAP and an SMTP host, the bad one); the table's own line when none is found.
fn find_line(text: &str, table: &str, index: usize, keys: &[&str]) -> (usize, String) {
    let header = format!("[[{table}]]");
    let sub_table = format!("[{table}.");
    let mut seen = 0usize;
    let mut start = None;
    let mut matches: Vec<(usize, String, String)> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            if trimmed.replace(' ', "") == header {
                seen += 1;
                if seen == index + 1 {
                    start = Some(number + 1);
                } else if start.is_some() {
                    break;
                }
                continue;
            }
            if start.is_some() && !trimmed.starts_with(&sub_table) {
                break;
            }
            continue;
        }
        if start.is_none() {
            continue;
        }
        // `key = value`, or an inline table holding it: `imap = { host = "…", port = 0 }`.
        for key in keys {
            for (at, _) in line.match_indices(key) {
                let before = line[..at].chars().last();
                let after = line[at + key.len()..].trim_start();
                if before.is_none_or(|c| !c.is_alphanumeric() && c != '_') && after.starts_with('=')
                {
                    let value = after[1..]
                        .trim_start()
                        .split([',', '}', '#'])
                        .next()
                        .unwrap_or_default()
                        .trim()
                        .trim_matches('"')
                        .to_owned();
                    matches.push((number + 1, (*key).to_owned(), value));
                }
            }
        }
    }
    let wrong = |key: &str, value: &str| match key {
        "host" => validate::host(value).is_err(),
        "port" => value == "0",
        "authorize_url" | "token_url" | "device_code_url" => url::Url::parse(value).is_err(),
        "mailbox" | "sign_in_account" | "service_account" => {
            validate::mailbox(value, Field::Mailbox).is_err()
        }
        _ => false,
    };
    matches
        .iter()
        .find(|(_, key, value)| wrong(key, value))
        .or(matches.first())
        .map(|(line, key, _)| (*line, key.clone()))
        .unwrap_or((start.unwrap_or(1).max(1), table.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Account, Preset, Provider};

    /// The class of "a hand-edited setting fails later": a bad address, host, port or URL in any account, edited
    /// by hand into a file the program wrote, is refused when the file is read, naming its line and key.
    #[test]
    fn a_bad_address_port_host_or_url_is_named_by_its_line_and_key() {
        let preset = Preset {
            client_id: Some("9e5f94bc-e8a4-4e73-b8be-63364c29d753".to_owned()),
            ..Preset::for_provider(Provider::Microsoft365)
        };
        let config = Config {
            accounts: vec![
                Account::from_preset("one@smile-dental.example", &preset),
                Account::from_preset("two@smile-dental.example", &preset),
            ],
            ..Config::default()
        };
        let text = toml::to_string_pretty(&config).unwrap();
        check(&config, &text).unwrap();
        let second = text.rfind("[[account]]").unwrap();
        let (first_part, second_part) = text.split_at(second);
        for (what, from, to, key) in [
            (
                "an address",
                "two@smile-dental.example",
                "two smile-dental.example",
                "mailbox",
            ),
            (
                "an address without @",
                "two@smile-dental.example",
                "two",
                "mailbox",
            ),
            (
                "the SMTP host",
                "smtp.office365.com",
                "smtp office365",
                "host",
            ),
            ("a port", "port = 587", "port = 0", "port"),
        ] {
            let edited = format!("{first_part}{}", second_part.replacen(from, to, 1));
            let read: Config = toml::from_str(&edited).unwrap_or_else(|e| panic!("{what}: {e}"));
            let problem = check(&read, &edited).unwrap_err();
            let line = edited.lines().nth(problem.line - 1).unwrap();
            assert_eq!(problem.key, key, "{what}: {problem:?}");
            assert!(
                line.contains(to),
                "{what}: line {} is {line:?}",
                problem.line
            );
            assert!(
                problem.line > first_part.lines().count(),
                "{what}: in the second account"
            );
        }
    }
}
