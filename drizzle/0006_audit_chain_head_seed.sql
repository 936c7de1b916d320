-- The chain's head row exists from the start: appending only updates it (one locking statement).
INSERT INTO audit_chain_head (id, sequence, hash)
VALUES (1, COALESCE((SELECT max(sequence) FROM audit_events), 0), '0000000000000000000000000000000000000000000000000000000000000000')
ON CONFLICT (id) DO NOTHING;
