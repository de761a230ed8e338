-- W3C trace context of the unit of work that appended the event (JSON
-- object: traceparent, tracestate, baggage), '' when it was not traced.
ALTER TABLE event_outbox ADD COLUMN headers text NOT NULL DEFAULT '';
