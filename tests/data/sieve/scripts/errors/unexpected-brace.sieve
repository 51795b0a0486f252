keep; }
