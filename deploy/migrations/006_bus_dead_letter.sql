-- Events a consumer gave up on after repeated failures (a deterministic error in its handler):
-- recorded here with the last error, so the consumer moves on instead of holding up every event
-- behind them, and an operator can see, fix and replay them (delete the inbox row and rewind).
CREATE TABLE bus.dead_letter (
    consumer  text        NOT NULL,
    event_id  uuid        NOT NULL,
    attempts  integer     NOT NULL,
    error     text        NOT NULL,
    at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
