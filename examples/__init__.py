"""Examples of outside parties written against the published contract only."""
