//! "Programs and devices", how devices reach this computer: whether devices elsewhere on the network may send,
//! this computer's name and addresses to type into a scanner (with Copy), and that the bridge runs only while the
//! window is open (on Linux, with the way to keep it running as a service of the user).

use eframe::egui;
use egui::{RichText, Ui};

use super::devices::DevicesAction;
use crate::runner::BridgeStatus;

/// The block under the page's title.
pub(super) fn reach_ui(
    ui: &mut Ui,
    status: &BridgeStatus,
    demo: bool,
    action: &mut Option<DevicesAction>,
) {
    let BridgeStatus::Running {
        network,
        on_network,
        ..
    } = status
    else {
        return;
    };
    let mut on_network = *on_network;
    let tick = ui
        .checkbox(&mut on_network, "Devices on this network can send")
        .on_hover_text(
            "Lets scanners and computers on this computer's own networks (not the internet) send through \
             mailconnect. Off: only programs on this computer can.",
        );
    if tick.changed() {
        *action = Some(DevicesAction::SetNetwork(on_network));
    }
    if !on_network {
        ui.label(
            "Only programs on this computer can send now. For a scanner or another computer, tick the box above.",
        );
    } else if network.is_empty() {
        ui.label(
            "This computer has no address on a private network (192.168.x.x, 10.x.x.x, 172.16-31.x.x) that \
             devices could reach: connect it to the practice's network, then untick and tick the box again.",
        );
    } else {
        let name = crate::bridge::network::computer_name();
        // "localhost" is no name a device can use.
        if name != "localhost" {
            ui.horizontal_wrapped(|ui| {
                ui.label("This computer's name:");
                ui.label(RichText::new(&name).monospace());
                if ui.small_button("Copy name").clicked() {
                    *action = Some(DevicesAction::CopyText(name.clone()));
                }
            });
        }
        for local in network {
            ui.horizontal_wrapped(|ui| {
                ui.label("Its address on the network:");
                let address = local.address.to_string();
                ui.label(RichText::new(&address).monospace());
                ui.label(RichText::new(format!("(network {})", local.network)).weak());
                let copy = ui.small_button("Copy address");
                let label = format!("Copy address {address}");
                copy.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
                if copy.clicked() {
                    *action = Some(DevicesAction::CopyText(address.clone()));
                }
            });
        }
        ui.label(
            RichText::new(
                "A device uses the address (or the name, where the network knows it) as its SMTP server.",
            )
            .weak(),
        );
    }
    ui.label(
        "The bridge runs while this window is open and stops when it closes; devices' mail waits in them until \
         it runs again.",
    );
    if cfg!(target_os = "linux") && !demo {
        ui.horizontal_wrapped(|ui| {
            ui.label("To keep it running without the window, it can run as a service of your user account.");
            if ui
                .button("Run it as a service")
                .on_hover_text(
                    "Installs the bridge as a service of this user (systemd) that starts with the computer, with \
                     the choice above; this window's own bridge then stops.",
                )
                .clicked()
            {
                *action = Some(DevicesAction::InstallService);
            }
        });
    }
}
