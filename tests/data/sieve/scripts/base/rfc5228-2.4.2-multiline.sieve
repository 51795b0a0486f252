require "fileinto";
if header :contains "subject" text:
schedule
.
{
    fileinto text:
multi
line
.
;
}
