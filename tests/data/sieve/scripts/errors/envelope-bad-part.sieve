require "envelope";
if envelope "bcc" "x" { keep; }
