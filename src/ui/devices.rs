//! "Programs and devices": the scanners and programs that send through the bridge, each with its queue and last
//! problem; adding one shows its user name, its password (only then) and the settings to type into it, and can
//! send a test message through the bridge as the device.

use eframe::egui;
use egui::{RichText, Ui};
use secrecy::{ExposeSecret, SecretString};

use super::theme::Palette;
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
    pub problem: Option<String>,
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
            problem: None,
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
            DevicesEvent::NotAdded(problem) => {
                self.adding = false;
                self.problem = Some(problem);
            }
            DevicesEvent::Bridge(status) => self.status = status,
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
            BridgeStatus::Running { port, tls_port } => Some((port, tls_port)),
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
    SendTest {
        row: DeviceRow,
        password: SecretString,
        port: u16,
    },
    CopyPassword(SecretString),
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
                    action = Some(DevicesAction::Back);
                }
                ui.heading(RichText::new("Programs and devices").strong());
            });
            ui.label(
                "Scanners, label printers and older practice programs that send mail with a user name and password \
                 send it to mailconnect on this computer, which passes it on with the mailbox's own sign-in.",
            );
            let palette = Palette::of(ui);
            let (words, colour) = match &page.status {
                BridgeStatus::Running { port, tls_port } => (
                    format!("Running on this computer: port {port} (STARTTLS) and {tls_port} (SSL/TLS)."),
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
                        queue_ui(ui, &page.queue);
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
    let port = match status {
        BridgeStatus::Running { port, tls_port } => {
            format!("{port} with STARTTLS, or {tls_port} with SSL/TLS")
        }
        _ => "2525 with STARTTLS, or 2465 with SSL/TLS".to_owned(),
    };
    egui::Grid::new("device_settings")
        .num_columns(2)
        .spacing([16.0, 6.0])
        .show(ui, |ui| {
            for (label, value) in [
                (
                    "SMTP server",
                    "this computer's name or address (127.0.0.1 for a program on it)".to_owned(),
                ),
                ("Port", port),
                (
                    "Sign-in (SMTP AUTH)",
                    "on, with the user name and password below".to_owned(),
                ),
                ("User name", added.row.user_name.clone()),
                ("Password", added.password.expose_secret().to_owned()),
                ("From address", added.row.mailbox.clone()),
            ] {
                ui.label(label);
                ui.label(RichText::new(value).monospace());
                ui.end_row();
            }
        });
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
            )
            .on_hover_text(reply.as_str());
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

/// Every message in the queue, oldest first, with where it stands.
fn queue_ui(ui: &mut Ui, queue: &[QueuedRow]) {
    ui.heading("Waiting to be sent");
    let palette = Palette::of(ui);
    let now = crate::words::now_unix();
    for message in queue {
        let received = crate::words::unix_time(message.received_at)
            .map(|at| {
                chrono::DateTime::<chrono::Local>::from(at)
                    .format("%-d %b %H:%M")
                    .to_string()
            })
            .unwrap_or_default();
        let state = if message.refused {
            "refused by the provider; it will not be sent".to_owned()
        } else if message.waiting_for_sign_in {
            "waits for the mailbox to be signed in again".to_owned()
        } else if message.next_attempt_at > now {
            format!(
                "tried {} times; next try in {} s",
                message.attempts,
                message.next_attempt_at - now
            )
        } else {
            "being sent".to_owned()
        };
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
    }
}
