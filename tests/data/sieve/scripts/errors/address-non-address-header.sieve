if address "subject" "x" { keep; }
