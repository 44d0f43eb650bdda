//! Item 5: webhook signatures before bodies, slow bodies, replayed deliveries.
