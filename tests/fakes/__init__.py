"""Local fakes of the Google APIs the gate talks to."""
