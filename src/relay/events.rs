//! A relayed connection's traffic as events: --read=count's cadence (one data event per
//! direction per --interval), and an urgent byte reported as it reaches its place.

use super::Relay;
use crate::error::Result;
use crate::event::{Flow, RelayData, RelayUrgent, Replaced, Side, UrgentByte};
use crate::event_loop::EventLoop;
use crate::reader::ReadMode;

impl Relay<'_> {
    /// An urgent byte reached its place, after the bytes before it (reported first, in
    /// count mode too): it goes out with MSG_OOB next.
    pub(super) fn urgent_placed(
        &mut self,
        lp: &mut EventLoop<'_>,
        slot: usize,
        from: Side,
        (byte, offset, replaced): (u8, u64, Option<u8>),
    ) -> Result<()> {
        self.flush_count(lp, slot, from)?;
        let Some(c) = self.conns[slot].as_ref() else {
            return Ok(());
        };
        lp.rep.emit(RelayUrgent {
            flow: Flow { conn: c.id, from },
            byte: UrgentByte(byte),
            offset,
            replaced: Replaced(replaced),
            relayed: true,
        })
    }

    /// --read=count: one data event per direction per --interval.
    pub(super) fn flush_counts(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        if self.cfg.read != ReadMode::Count {
            return Ok(());
        }
        for slot in 0..self.conns.len() {
            for side in [Side::Client, Side::Target] {
                let due = self.conns[slot]
                    .as_ref()
                    .is_some_and(|c| c.dir(side).tally.due(self.cfg.interval));
                if due {
                    self.flush_count(lp, slot, side)?;
                }
            }
        }
        Ok(())
    }

    pub(super) fn flush_count(
        &mut self,
        lp: &mut EventLoop<'_>,
        slot: usize,
        side: Side,
    ) -> Result<()> {
        if self.cfg.read != ReadMode::Count {
            return Ok(());
        }
        let Some(c) = self.conns[slot].as_mut() else {
            return Ok(());
        };
        let id = c.id;
        let (_, _, dir) = c.route(side);
        let Some(bytes) = dir.tally.take() else {
            return Ok(());
        };
        let total = dir.bytes;
        lp.rep.emit(RelayData {
            flow: Flow {
                conn: id,
                from: side,
            },
            bytes,
            total,
            shown: None,
        })
    }
}
