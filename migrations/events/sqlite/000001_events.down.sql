DROP TABLE IF EXISTS event_dead_letters;
DROP TABLE IF EXISTS event_inbox;
DROP TABLE IF EXISTS event_deliveries;
DROP TABLE IF EXISTS event_outbox;
