//! "Programs and devices": the scanners and programs that send through the bridge, each with its queue and last
//! problem; adding one shows its user name, its password (only then) and the settings to type into it, and can
//! send a test message through the bridge as the device.

use eframe::egui;
use egui::{RichText, Ui};
use secrecy::{ExposeSecret, SecretString};

use super::theme::Palette;
use crate::bridge::spool::MessageId;
use crate::runner::{BridgeStatus, DeviceRow, DevicesEvent, QueuedRow};

/// A device just added: the only moment its password exists outside the device.
pub struct JustAdded {
    pub row: DeviceRow,
    pub password: SecretString,
    pub test: Option<Result<String, String>>,
    pub testing: bool,
}

/// The page's state.
pub struct DevicesPage {
    pub rows: Vec<DeviceRow>,
    pub queue: Vec<QueuedRow>,
    pub status: BridgeStatus,
    pub name: String,
    pub mailbox: String,
    pub plain_on_lan: bool,
    pub adding: bool,
    pub just_added: Option<JustAdded>,
    pub confirm_remove: Option<String>,
    /// A queued message the admin asked to drop, waiting for "Yes, drop".
    pub confirm_drop: Option<MessageId>,
    /// The device (user name) whose settings are shown again, without the password.
    pub show_settings: Option<String>,
    /// The device (user name) that is to get a new password, waiting for "Yes, make a new password".
    pub confirm_new_password: Option<String>,
    /// Back was pressed while a password that is shown only once is on screen: asked to confirm.
    pub confirm_leave: bool,
    pub problem: Option<String>,
    /// A short message about the last action ("Copied 192.168.1.20.").
    pub notice: Option<String>,
    /// The window runs a demo: nothing is installed for it.
    pub demo: bool,
}

impl Default for DevicesPage {
    fn default() -> DevicesPage {
        DevicesPage {
            rows: Vec::new(),
            queue: Vec::new(),
            status: BridgeStatus::Starting,
            name: String::new(),
            mailbox: String::new(),
            plain_on_lan: false,
            adding: false,
            just_added: None,
            confirm_remove: None,
            confirm_drop: None,
            show_settings: None,
            confirm_new_password: None,
            confirm_leave: false,
            problem: None,
            notice: None,
            demo: false,
        }
    }
}

impl DevicesPage {
    pub fn apply(&mut self, event: DevicesEvent) {
        match event {
            DevicesEvent::Read(Ok((rows, queue))) => {
                self.rows = rows;
                self.queue = queue;
            }
            DevicesEvent::Read(Err(problem)) => self.problem = Some(problem),
            DevicesEvent::Added { row, password } => {
                self.adding = false;
                self.name.clear();
                self.plain_on_lan = false;
                self.rows.push(row.clone());
                self.just_added = Some(JustAdded {
                    row,
                    password,
                    test: None,
                    testing: false,
                });
            }
            DevicesEvent::NewPassword { row, password } => {
                self.confirm_new_password = None;
                self.confirm_leave = false;
                self.show_settings = None;
                self.just_added = Some(JustAdded {
                    row,
                    password,
                    test: None,
                    testing: false,
                });
            }
            DevicesEvent::NotAdded(problem) => {
                self.adding = false;
                self.problem = Some(problem);
            }
            DevicesEvent::Bridge(status) => self.status = status,
            DevicesEvent::ServiceInstalled(result) => {
                self.notice = Some(match result {
                    Ok(()) => "The bridge now runs as a service of this user: it keeps running when this window \
                               closes, and starts with the computer."
                        .to_owned(),
                    Err(problem) => format!("The service could not be set up: {problem}"),
                })
            }
            DevicesEvent::TestSent(result) => {
                if let Some(added) = &mut self.just_added {
                    added.testing = false;
                    added.test = Some(result);
                }
            }
        }
    }

    fn port(&self) -> Option<(u16, u16)> {
        match self.status {
            BridgeStatus::Running { port, tls_port, .. } => Some((port, tls_port)),
            _ => None,
        }
    }
}

/// What the person asked for.
pub enum DevicesAction {
    Back,
    Add {
        name: String,
        mailbox: String,
        plain_on_lan: bool,
    },
    Remove(String),
    /// Give the device (user name) a new password.
    NewPassword(String),
    SendTest {
        row: DeviceRow,
        password: SecretString,
        port: u16,
    },
    CopyPassword(SecretString),
    /// Copies this computer's name or address.
    CopyText(String),
    /// "Devices on this network can send" ticked or unticked.
    SetNetwork(bool),
    /// Keep the bridge running without the window: a service of this user (Linux).
    InstallService,
    /// Try a queued message again now.
    Retry(MessageId),
    /// Remove a queued message unsent.
    Drop(MessageId),
}

/// Draws the page; `mailboxes` are those a device may send as.
#[must_use]
pub fn devices_ui(
    ui: &mut Ui,
    page: &mut DevicesPage,
    mailboxes: &[String],
) -> Option<DevicesAction> {
    let mut action = None;
    let margin = egui::Margin::symmetric(20, 10);
    egui::Panel::top("devices_header")
        .frame(egui::Frame::side_top_panel(ui.style()).inner_margin(margin))
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                if ui.button("Back").clicked() {
                    // A password shown only once is on screen: leaving loses it, so ask first.
                    if page.just_added.is_some() {
                        page.confirm_leave = true;
                    } else {
                        action = Some(DevicesAction::Back);
                    }
                }
                ui.heading(RichText::new("Programs and devices").strong());
            });
            if page.confirm_leave
                && let Some(added) = &page.just_added
            {
                ui.label(
                    RichText::new(format!(
                        "The password of \"{}\" is shown only now and is not kept. Leave this page without it?",
                        added.row.name
                    ))
                    .color(Palette::of(ui).fail),
                );
                ui.horizontal(|ui| {
                    if ui.button("Leave anyway").clicked() {
                        page.confirm_leave = false;
                        action = Some(DevicesAction::Back);
                    }
                    if ui.button("Stay on this page").clicked() {
                        page.confirm_leave = false;
                    }
                });
            }
            ui.label(
                "Scanners, label printers and older practice programs that send mail with a user name and password \
                 send it to mailconnect on this computer, which passes it on with the mailbox's own sign-in.",
            );
            let palette = Palette::of(ui);
            let (words, colour) = match &page.status {
                BridgeStatus::Running {
                    port,
                    tls_port,
                    on_network,
                    ..
                } => (
                    format!(
                        "Running on {}: port {port} (STARTTLS) and {tls_port} (SSL/TLS).",
                        if *on_network {
                            "this computer and its network"
                        } else {
                            "this computer"
                        }
                    ),
                    palette.pass,
                ),
                BridgeStatus::Starting => ("Starting…".to_owned(), palette.text),
                BridgeStatus::PortInUse { port } => (
                    format!(
                        "Port {port} is already in use on this computer: the bridge most likely runs as a service."
                    ),
                    palette.text,
                ),
                BridgeStatus::NotSetUp => (
                    "Not in the practice demo: it keeps nothing on this computer, and the bridge needs saved \
                     settings. The plain demo (mailconnect --demo) and the real window run it."
                        .to_owned(),
                    palette.text,
                ),
                BridgeStatus::Failed(problem) => (format!("Not running: {problem}"), palette.fail),
            };
            ui.label(RichText::new(words).color(colour));
            super::devices_reach::reach_ui(ui, &page.status, page.demo, &mut action);
            if let Some(notice) = &page.notice {
                ui.label(RichText::new(notice).strong());
            }
        });
    egui::CentralPanel::default()
        .frame(egui::Frame::central_panel(ui.style()).inner_margin(margin))
        .show(ui, |ui| {
            egui::ScrollArea::vertical()
                .auto_shrink(false)
                .show(ui, |ui| {
                    if let Some(problem) = &page.problem {
                        ui.label(RichText::new(problem).color(Palette::of(ui).fail));
                    }
                    if let Some(added) = &mut page.just_added {
                        just_added_ui(ui, added, page.status.clone(), &mut action);
                        ui.separator();
                    }
                    add_ui(ui, page, mailboxes, &mut action);
                    ui.separator();
                    list_ui(ui, page, &mut action);
                    if !page.queue.is_empty() {
                        ui.separator();
                        queue_ui(ui, page, &mut action);
                    }
                });
        });
    action
}

fn just_added_ui(
    ui: &mut Ui,
    added: &mut JustAdded,
    status: BridgeStatus,
    action: &mut Option<DevicesAction>,
) {
    ui.heading(format!("Type these into \"{}\"", added.row.name));
    ui.label("The password is shown only now. Write it into the device before leaving this page.");
    settings_grid(ui, &added.row, &status, Some(&added.password));
    if added.row.plain_on_lan {
        ui.label(
            RichText::new(
                "This device may sign in without encryption on the local network: anyone on the network could read \
                 its password. Use STARTTLS or SSL/TLS if the device offers it.",
            )
            .color(Palette::of(ui).fail),
        );
    }
    ui.horizontal(|ui| {
        if ui.button("Copy password").clicked() {
            *action = Some(DevicesAction::CopyPassword(added.password.clone()));
        }
        let running = matches!(status, BridgeStatus::Running { .. });
        let send = ui
            .add_enabled(
                running && !added.testing,
                egui::Button::new("Send a test message"),
            )
            .on_hover_text(
                "Sends a message to the mailbox itself through the bridge, as this device would.",
            )
            .on_disabled_hover_text("The bridge must be running in this window.");
        if send.clicked()
            && let BridgeStatus::Running { port, .. } = status
        {
            added.testing = true;
            added.test = None;
            *action = Some(DevicesAction::SendTest {
                row: added.row.clone(),
                password: added.password.clone(),
                port,
            });
        }
    });
    match &added.test {
        Some(Ok(reply)) => {
            ui.label(
                RichText::new(format!(
                    "The bridge took the test message; it arrives in {} shortly.",
                    added.row.mailbox
                ))
                .color(Palette::of(ui).pass),
            );
            ui.label(
                RichText::new(format!("The bridge answered: {reply}"))
                    .small()
                    .weak(),
            );
        }
        Some(Err(problem)) => {
            ui.label(
                RichText::new(format!("The test message failed: {problem}"))
                    .color(Palette::of(ui).fail),
            );
        }
        None if added.testing => {
            ui.label("Sending…");
        }
        None => {}
    }
}

/// The settings to type into a device: with its password only right after it was made.
fn settings_grid(
    ui: &mut Ui,
    row: &DeviceRow,
    status: &BridgeStatus,
    password: Option<&SecretString>,
) {
    let port = match status {
        BridgeStatus::Running { port, tls_port, .. } => {
            format!("{port} with STARTTLS, or {tls_port} with SSL/TLS")
        }
        _ => "2525 with STARTTLS, or 2465 with SSL/TLS".to_owned(),
    };
    let server = match status {
        BridgeStatus::Running { network, .. } if !network.is_empty() => {
            let name = crate::bridge::network::computer_name();
            if name == "localhost" {
                format!("{} (this computer's address)", network[0].address)
            } else {
                format!(
                    "{} (this computer's address), or {name} by name",
                    network[0].address
                )
            }
        }
        _ => "127.0.0.1: programs on this computer only (tick \"Devices on this network can send\" for a \
              scanner)"
            .to_owned(),
    };
    let password = match password {
        Some(password) => password.expose_secret().to_owned(),
        None => "not kept (Make a new password if it is lost)".to_owned(),
    };
    egui::Grid::new(("device_settings", row.user_name.as_str()))
        .num_columns(2)
        .spacing([16.0, 6.0])
        .show(ui, |ui| {
            for (label, value) in [
                ("SMTP server", server.clone()),
                ("Port", port),
                (
                    "Sign-in (SMTP AUTH)",
                    "on, with the user name and password below".to_owned(),
                ),
                ("User name", row.user_name.clone()),
                ("Password", password),
                ("From address", row.mailbox.clone()),
            ] {
                ui.label(label);
                ui.label(RichText::new(value).monospace());
                ui.end_row();
            }
        });
}

fn add_ui(
    ui: &mut Ui,
    page: &mut DevicesPage,
    mailboxes: &[String],
    action: &mut Option<DevicesAction>,
) {
    ui.heading("Add a device or program");
    if page.mailbox.is_empty()
        && let Some(first) = mailboxes.first()
    {
        page.mailbox = first.clone();
    }
    ui.horizontal(|ui| {
        let label = ui.label("Name");
        ui.add(egui::TextEdit::singleline(&mut page.name).hint_text("Scanner in reception"))
            .labelled_by(label.id);
        let label = ui.label("Sends as");
        egui::ComboBox::from_id_salt("device_mailbox")
            .selected_text(page.mailbox.clone())
            .show_ui(ui, |ui| {
                for mailbox in mailboxes {
                    ui.selectable_value(&mut page.mailbox, mailbox.clone(), mailbox);
                }
            })
            .response
            .labelled_by(label.id);
    });
    ui.checkbox(
        &mut page.plain_on_lan,
        "An old device that cannot use encryption, on the local network",
    )
    .on_hover_text("Lets it sign in without TLS from the local network. Its password then crosses the network readable.");
    let can_add = !page.adding
        && !page.name.trim().is_empty()
        && !page.mailbox.is_empty()
        && page.port().is_some();
    let add = ui
        .add_enabled(can_add, egui::Button::new("Add device"))
        .on_disabled_hover_text(
            "Give the device a name, pick the mailbox it sends as; the bridge must be running.",
        );
    if add.clicked() {
        page.adding = true;
        page.problem = None;
        *action = Some(DevicesAction::Add {
            name: page.name.trim().to_owned(),
            mailbox: page.mailbox.clone(),
            plain_on_lan: page.plain_on_lan,
        });
    }
}

fn list_ui(ui: &mut Ui, page: &mut DevicesPage, action: &mut Option<DevicesAction>) {
    ui.heading("Devices");
    if page.rows.is_empty() {
        ui.label("No devices yet.");
        return;
    }
    let palette = Palette::of(ui);
    let rows = page.rows.clone();
    for row in &rows {
        ui.group(|ui| {
            ui.horizontal(|ui| {
                ui.label(RichText::new(&row.name).strong());
                ui.label(format!(
                    "user name {}, sends as {}",
                    row.user_name, row.mailbox
                ));
            });
            let queue = match (row.waiting, row.refused) {
                (0, 0) => "Nothing waiting.".to_owned(),
                (waiting, refused) => {
                    format!("{waiting} waiting, {refused} refused by the provider.")
                }
            };
            ui.label(queue);
            if let Some(problem) = &row.last_problem {
                ui.label(RichText::new(format!("Last problem: {problem}")).color(palette.fail));
            }
            if row.plain_on_lan {
                ui.label(
                    RichText::new("May sign in without encryption on the local network.")
                        .color(palette.fail),
                );
            }
            let named = |ui: &mut Ui, text: &str, name: String| {
                let button = ui.button(text);
                button.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &name));
                button.clicked()
            };
            let shown = page.show_settings.as_deref() == Some(row.user_name.as_str());
            if shown {
                settings_grid(ui, row, &page.status, None);
            }
            if page.confirm_new_password.as_deref() == Some(row.user_name.as_str()) {
                ui.horizontal(|ui| {
                    ui.label(format!(
                        "Make a new password for {}? The old one stops working at once.",
                        row.name
                    ));
                    if ui.button("Yes, make a new password").clicked() {
                        *action = Some(DevicesAction::NewPassword(row.user_name.clone()));
                    }
                    if ui.button("Keep the old one").clicked() {
                        page.confirm_new_password = None;
                    }
                });
            }
            ui.horizontal(|ui| {
                let (text, name) = if shown {
                    ("Hide settings", format!("Hide settings of {}", row.name))
                } else {
                    ("Show settings", format!("Show settings of {}", row.name))
                };
                if named(ui, text, name) {
                    page.show_settings = (!shown).then(|| row.user_name.clone());
                }
                if named(
                    ui,
                    "Make a new password",
                    format!("Make a new password for {}", row.name),
                ) {
                    page.confirm_new_password = Some(row.user_name.clone());
                }
            });
            if page.confirm_remove.as_deref() == Some(row.user_name.as_str()) {
                ui.horizontal(|ui| {
                    ui.label(format!("Remove {}? It can no longer send mail.", row.name));
                    if ui.button("Yes, remove").clicked() {
                        *action = Some(DevicesAction::Remove(row.user_name.clone()));
                    }
                    if ui.button("Keep").clicked() {
                        page.confirm_remove = None;
                    }
                });
            } else {
                let remove = ui.button("Remove");
                let name = format!("Remove {}", row.name);
                remove.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &name));
                if remove.clicked() {
                    page.confirm_remove = Some(row.user_name.clone());
                }
            }
        });
    }
}

/// Every message in the queue, oldest first, with where it stands, and Try again / Drop for each.
fn queue_ui(ui: &mut Ui, page: &mut DevicesPage, action: &mut Option<DevicesAction>) {
    ui.heading("Waiting to be sent");
    let palette = Palette::of(ui);
    let now = crate::words::now_unix();
    for message in &page.queue {
        let received = crate::words::unix_time(message.received_at)
            .map(|at| {
                chrono::DateTime::<chrono::Local>::from(at)
                    .format("%-d %b %H:%M")
                    .to_string()
            })
            .unwrap_or_default();
        let state = if message.refused {
            "refused; it will not be sent unless you try it again".to_owned()
        } else if message.waiting_for_sign_in {
            "waits for the mailbox to be signed in again".to_owned()
        } else if message.next_attempt_at > now {
            format!(
                "tried {} times; next try in {}",
                message.attempts,
                crate::words::duration(std::time::Duration::from_secs(
                    message.next_attempt_at - now
                ))
            )
        } else {
            "being sent".to_owned()
        };
        let short = message.id.short().to_owned();
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(format!("{received}, from {}", message.device)).strong());
            ui.label(format!(
                "{}, {} KB: {state}",
                crate::words::count(message.recipients as u64, "recipient", "recipients"),
                message.size.div_ceil(1024)
            ));
        });
        if let Some(problem) = &message.last_problem {
            let colour = if message.refused {
                palette.fail
            } else {
                palette.text
            };
            ui.label(RichText::new(problem).color(colour));
        }
        ui.horizontal(|ui| {
            if page.confirm_drop.as_ref() == Some(&message.id) {
                ui.label("Remove this message from the queue? It will not be sent.");
                if ui.button("Yes, drop").clicked() {
                    *action = Some(DevicesAction::Drop(message.id.clone()));
                }
                if ui.button("Keep it").clicked() {
                    page.confirm_drop = None;
                }
                return;
            }
            let retry = ui
                .button("Try again now")
                .on_hover_text("Sends it now, also when it was refused or waited too long.");
            let name = format!("Try message {short} again now");
            retry.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &name));
            if retry.clicked() {
                *action = Some(DevicesAction::Retry(message.id.clone()));
            }
            let drop = ui.button("Drop");
            let name = format!("Drop message {short}");
            drop.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &name));
            if drop.clicked() {
                page.confirm_drop = Some(message.id.clone());
            }
        });
    }
}
