if header :contains "subject" "nothing-matches-this" { discard; }
