//! The closed-loop clients: each submits its next command after a think
//! time, and after the heal one probe (a read) that must be answered.
//! Contract: every completed or given-up operation is recorded in the
//! history the final check reads, and every request sent is shown to the
//! checker (validity). A kv get may go as a read without a log write
//! (`SimOptions::reads`): its reply is not checked against an execution
//! (there is none), a linearizable one goes into the history the
//! linearizability checker reads, a serializable one is only checked to
//! return a value that was written.

use super::*;

impl World<'_> {
    pub(super) fn submit(&mut self, c: usize) {
        let client = &mut self.clients[c];
        if client.pending.is_some() || (self.healed && self.probed[c]) {
            return;
        }
        let probe = self.healed;
        let command = if probe {
            match client.kind {
                AppKind::Kv => Command::Kv(KvOp::Get { key: "k0".into() }),
                AppKind::Bank => Command::Bank(BankOp::Balance {
                    account: "A".into(),
                }),
                AppKind::Inventory => Command::Inventory(InventoryOp::Stock),
            }
        } else {
            client.next_command()
        };
        let request = if probe {
            RequestKind::Command
        } else {
            client.request_kind(&command, self.opts.reads)
        };
        let bytes = encode_command(&command).into();
        let submitted = match request {
            RequestKind::Command => client.core.submit(self.now, bytes),
            read => client.core.submit_read(self.now, bytes, read),
        };
        let Ok(actions) = submitted else {
            return;
        };
        client.pending = Some(Pending {
            command,
            invoke: self.now,
            probe,
            request,
        });
        self.client_actions(c, actions);
    }

    pub(super) fn client_actions(&mut self, c: usize, actions: Vec<ClientAction>) {
        for action in actions {
            match action {
                ClientAction::Send { to, request, kind } => {
                    self.checker.on_submit(&request);
                    for delay in self.net.deliveries(&mut self.rng_net, None, None) {
                        let request = request.clone();
                        self.at(self.now + delay, Ev::Request { to, request, kind });
                    }
                }
                ClientAction::Done { timestamp, outcome } => self.complete(c, timestamp, outcome),
            }
        }
        if let Some(deadline) = self.clients[c].core.deadline() {
            self.at(deadline, Ev::ClientTick { client: c });
        }
    }

    pub(super) fn complete(&mut self, c: usize, timestamp: u64, outcome: ClientOutcome) {
        let Some(pending) = self.clients[c].pending.take() else {
            return;
        };
        let client_id = self.clients[c].id();
        let (complete, outcome) = match outcome {
            ClientOutcome::Replied(bytes) => {
                if pending.request == RequestKind::Command {
                    self.checker
                        .on_reply(self.now, client_id, timestamp, &bytes);
                }
                let outcome =
                    decode_outcome(&bytes).unwrap_or_else(|e| Outcome::Invalid(e.to_string()));
                self.clients[c].observe(&pending.command, &outcome);
                (Some(self.now), Some(outcome))
            }
            ClientOutcome::Unknown => (None, None),
        };
        if pending.probe && complete.is_some() {
            self.probed[c] = true;
        }
        self.history.push(Record {
            client: client_id,
            kind: self.clients[c].kind,
            invoke: pending.invoke,
            complete,
            command: pending.command,
            outcome,
            probe: pending.probe,
            request: pending.request,
        });
        if self.healed {
            // After healing only the probe runs; an unknown probe retries.
            if !self.probed[c] {
                self.submit(c);
            }
        } else {
            let think = self.clients[c].think(self.opts.think);
            self.at(self.now + think, Ev::ClientSubmit { client: c });
        }
    }
}
