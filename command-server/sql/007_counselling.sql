-- hearlers command side: the counselling and payment contexts (SPEC §9). Applied at start;
-- idempotent. Captured by Debezium: jobs (the visible state of every saga, read model `jobs`).
-- Everything else reaches the read models through domain events (counselling.events,
-- payment.events).
--
-- No double booking by construction: slots of one counsellor never overlap (exclusion
-- constraint over [starts_at, ends_at), btree_gist for the uuid equality), and a slot has at most
-- one live booking (partial unique index), besides the conditional UPDATE open -> held that the
-- booking command runs. Money is integer minor units with an ISO 4217 code; times are UTC
-- (timestamptz).

-- btree_gist is a trusted extension: the database owner (the servers' role) may create it.
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- Roles granted from the command line only (command-server grant-role <email> operator).
CREATE TABLE IF NOT EXISTS user_roles (
    user_id    uuid        NOT NULL REFERENCES users (user_id),
    role       text        NOT NULL CHECK (role IN ('operator')),
    granted_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, role)
);

-- counselling: Counsellor aggregate (one per user; counsellor_id = user_id). version bumps on
-- CounsellorRegistered, CounsellorProfileUpdated, CounsellorVerified, SlotsPublished and
-- SlotWithdrawn (the counsellor's schedule is part of the aggregate's stream).
CREATE TABLE IF NOT EXISTS counsellors (
    counsellor_id   uuid PRIMARY KEY REFERENCES users (user_id),
    headline        text        NOT NULL,
    bio             text        NOT NULL DEFAULT '',
    specialties     text[]      NOT NULL,
    languages       text[]      NOT NULL,
    price_minor     bigint      NOT NULL CHECK (price_minor > 0),
    currency        text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    session_minutes integer     NOT NULL CHECK (session_minutes IN (30, 50, 80)),
    verified        boolean     NOT NULL DEFAULT false,
    verified_at     timestamptz,
    version         bigint      NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- counselling: Slot (open -> held -> booked; held/booked -> open when a booking fails or is
-- cancelled early; open -> withdrawn). version bumps on every change; events that change a slot
-- carry slot_version so the slots read model is guarded per slot.
CREATE TABLE IF NOT EXISTS slots (
    slot_id       uuid PRIMARY KEY,
    counsellor_id uuid        NOT NULL REFERENCES counsellors (counsellor_id),
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    minutes       integer     NOT NULL CHECK (minutes IN (30, 50, 80)),
    status        text        NOT NULL CHECK (status IN ('open', 'held', 'booked', 'withdrawn')),
    version       bigint      NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CHECK (ends_at > starts_at),
    CONSTRAINT slots_no_overlap EXCLUDE USING gist
        (counsellor_id WITH =, tstzrange(starts_at, ends_at) WITH &&) WHERE (status <> 'withdrawn')
);
CREATE INDEX IF NOT EXISTS slots_counsellor_start ON slots (counsellor_id, starts_at);

-- counselling: Booking aggregate. status: requested (slot held, saga running) -> confirmed |
-- failed; confirmed -> cancelled | completed. Price is a snapshot of the counsellor's price.
CREATE TABLE IF NOT EXISTS bookings (
    booking_id     uuid PRIMARY KEY,
    client_id      uuid        NOT NULL REFERENCES users (user_id),
    counsellor_id  uuid        NOT NULL REFERENCES counsellors (counsellor_id),
    slot_id        uuid        NOT NULL REFERENCES slots (slot_id),
    starts_at      timestamptz NOT NULL,
    minutes        integer     NOT NULL,
    price_minor    bigint      NOT NULL CHECK (price_minor > 0),
    currency       text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status         text        NOT NULL
        CHECK (status IN ('requested', 'confirmed', 'failed', 'cancelled', 'completed')),
    failure_reason text,
    cancelled_by   text CHECK (cancelled_by IN ('client', 'counsellor')),
    room_id        uuid,
    version        bigint      NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    CHECK (client_id <> counsellor_id)
);
-- never two live bookings of one slot
CREATE UNIQUE INDEX IF NOT EXISTS bookings_one_live_per_slot ON bookings (slot_id)
    WHERE status IN ('requested', 'confirmed');
CREATE INDEX IF NOT EXISTS bookings_client ON bookings (client_id);
CREATE INDEX IF NOT EXISTS bookings_counsellor ON bookings (counsellor_id);

-- payment: Payment aggregate, one per booking. status: pending (intent being created) ->
-- authorized | declined; authorized -> captured | voided; captured -> refunded. A status only
-- moves forward, so no payment is captured or refunded twice.
CREATE TABLE IF NOT EXISTS payments (
    payment_id   uuid PRIMARY KEY,
    booking_id   uuid        NOT NULL UNIQUE REFERENCES bookings (booking_id),
    amount_minor bigint      NOT NULL CHECK (amount_minor > 0),
    currency     text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status       text        NOT NULL
        CHECK (status IN ('pending', 'authorized', 'declined', 'captured', 'voided', 'refunded')),
    provider_ref text,                      -- the provider's PaymentIntent id (pi_...)
    version      bigint      NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

-- counselling: one review per booking (the client, after completion).
CREATE TABLE IF NOT EXISTS reviews (
    booking_id    uuid PRIMARY KEY REFERENCES bookings (booking_id),
    client_id     uuid        NOT NULL REFERENCES users (user_id),
    counsellor_id uuid        NOT NULL REFERENCES counsellors (counsellor_id),
    rating        integer     NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment       text,
    created_at    timestamptz NOT NULL
);

-- Jobs (SPEC §9): the visible state of one saga run, captured by Debezium into the `jobs` read
-- model. steps: [{name, status, at}] as the saga moved; result / error (a problem document) once
-- it ended. version bumps on every change (the read model's guard).
CREATE TABLE IF NOT EXISTS jobs (
    job_id     uuid PRIMARY KEY,
    owner_id   uuid        NOT NULL REFERENCES users (user_id),
    kind       text        NOT NULL CHECK (kind IN ('booking', 'cancellation', 'completion')),
    status     text        NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
    booking_id uuid        NOT NULL,
    steps      jsonb       NOT NULL DEFAULT '[]',
    result     jsonb,
    error      jsonb,
    version    bigint      NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- The booking saga's process-manager state (command-server/src/saga.c; transitions in
-- saga_sm.c). Not captured: the job row is what clients see. saga_id = job_id. A worker claims a
-- due saga by setting lease_until (provider calls run outside any transaction); a saga whose
-- lease ran out (its worker died) is due again and resumes from state.
CREATE TABLE IF NOT EXISTS sagas (
    saga_id        uuid PRIMARY KEY REFERENCES jobs (job_id),
    kind           text        NOT NULL CHECK (kind IN ('booking', 'cancellation', 'completion')),
    booking_id     uuid        NOT NULL REFERENCES bookings (booking_id),
    state          text        NOT NULL,
    done           boolean     NOT NULL DEFAULT false,
    payment_method text,
    actor          text,                    -- cancellation: client | counsellor
    refund         boolean,                 -- cancellation: void/refund in full (true) or charge
    attempts       integer     NOT NULL DEFAULT 0,   -- failed provider calls of the current step
    next_run_at    timestamptz NOT NULL,
    deadline_at    timestamptz NOT NULL,
    lease_until    timestamptz,
    lease_owner    uuid,                    -- the claim of the worker holding the lease
    last_error     text,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS sagas_due ON sagas (next_run_at) WHERE NOT done;
-- at most one running saga per booking (a cancel while another is running gets 409)
CREATE UNIQUE INDEX IF NOT EXISTS sagas_one_live_per_booking ON sagas (booking_id) WHERE NOT done;

-- chat: counselling rooms (opened by the booking saga, no friendship needed).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'chat_rooms_kind_check'
                   AND pg_get_constraintdef(oid) LIKE '%counselling%') THEN
        ALTER TABLE chat_rooms DROP CONSTRAINT IF EXISTS chat_rooms_kind_check;
        ALTER TABLE chat_rooms ADD CONSTRAINT chat_rooms_kind_check
            CHECK (kind IN ('direct', 'group', 'counselling'));
    END IF;
END
$$;
