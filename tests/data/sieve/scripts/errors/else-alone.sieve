else { keep; }
