if header :is :contains "subject" "x" { keep; }
