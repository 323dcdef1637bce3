-- The first release: notes with a title and a body.
CREATE TABLE notes (
    id bigserial PRIMARY KEY,
    title text,
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
