-- edoc-gateway schema 15 (PostgreSQL): the tracker's "state + dates" search gets an index of
-- its own. With only (state, seq), the planner walked one state's rows newest first testing
-- the dates, and for a week long past it walked most of them (59,000 pending rows of 1M to find
-- a week's 50: 125-260 ms); (state, received_at) reads the week's rows of that state and sorts
-- them.
CREATE INDEX package_index_state_received ON package_index (state, received_at);
