"""Helpers shared by the test suite: a throwaway Redis server and polling."""
