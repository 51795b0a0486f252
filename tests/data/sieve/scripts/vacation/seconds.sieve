require ["vacation", "vacation-seconds"];
if header :contains "subject" "around" { vacation :seconds 3600 "an hour"; }
else { vacation :seconds 10 "ten seconds is too short"; }
