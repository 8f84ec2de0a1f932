//! The simulated provider fleet: loopback servers that behave like Groq, OpenAI and Together
//! (limits, headers, error bodies, streams, faults), for tests, benchmarks and `--demo`.
