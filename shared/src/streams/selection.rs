//! Which events a stream takes (docs/interface/streams.md): `"all"` or a list
//! of event codes or names (catalogue aliases included); Amplitude streams
//! default to the export table's campaign events and every Customer.io
//! event, and never take events that came from Amplitude.

use crate::config::{Selection, SinkConfig, StreamConfig};
use crate::domain::Event;
use crate::domain::EventSource;

use super::catalogue;

fn listed(items: &[String], event: &Event) -> bool {
    items.iter().any(|item| {
        item.eq_ignore_ascii_case(&event.event_code)
            || item.eq_ignore_ascii_case(&event.event_name)
            || catalogue::lookup(item)
                .is_some_and(|e| e.matches(&event.event_code) || e.matches(&event.event_name))
    })
}

fn selection_includes(selection: &Selection, event: &Event) -> bool {
    match selection {
        Selection::All(_) => true,
        Selection::List(items) => listed(items, event),
    }
}

pub fn selects(stream: &StreamConfig, event: &Event) -> bool {
    match stream.sink {
        SinkConfig::Webhook(_) => stream
            .events
            .as_ref()
            .is_none_or(|s| selection_includes(s, event)),
        SinkConfig::Amplitude(_) => {
            // Events from Amplitude are never sent back to it (docs/rules/amplitude-export.md).
            if event.event_source == EventSource::Amplitude {
                return false;
            }
            match &stream.events {
                Some(selection) => selection_includes(selection, event),
                // Every Customer.io event (docs/rules/amplitude-export.md
                // "Which events"), plus the export table's campaign events.
                None if event.event_source == EventSource::Customerio => true,
                None => catalogue::lookup(&event.event_code)
                    .or_else(|| catalogue::lookup(&event.event_name))
                    .is_some_and(|e| e.amplitude_default),
            }
        }
    }
}
