if (true) { keep; }
